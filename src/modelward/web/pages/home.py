"""The overview (what needs a look now) and the readiness slot."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from modelward.security import Permission
from modelward.web.rendering import Page, signed_in

__all__ = ["READINESS", "router"]

router = APIRouter()
Viewer = Annotated[Page, Depends(signed_in)]

#: the readiness report's renderer, ``(session, ref) -> dict``, once the readiness
#: context provides one; until then its page says it is not built
READINESS: Any = None


@router.get("/", response_class=HTMLResponse)
def overview(page: Viewer) -> HTMLResponse:
    from modelward import monitoring, registry, rollout, serving

    page.need(Permission.MODELS_READ)
    models = registry.list_models(page.session)
    endpoints = serving.list_endpoints(page.session) if page.can(Permission.ENDPOINTS_READ) else []
    live = (
        rollout.list_releases(page.session, live_only=True)
        if page.can(Permission.RELEASES_READ)
        else []
    )
    firing = [a for a in monitoring.list_alerts(page.session) if a["state"] == "firing"]
    return page.render(
        "overview.html",
        models=models,
        endpoints=endpoints,
        live=live,
        firing=firing,
    )


@router.get("/readiness", response_class=HTMLResponse)
def readiness(page: Viewer) -> HTMLResponse:
    page.need(Permission.MODELS_READ)
    return page.render("readiness.html", built=READINESS is not None)

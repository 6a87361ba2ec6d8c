"""The overview (what needs a look now) and the readiness report of a version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from modelward.security import Permission
from modelward.web.rendering import Page, signed_in

__all__ = ["router"]

router = APIRouter()
Viewer = Annotated[Page, Depends(signed_in)]


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
def readiness(
    page: Viewer,
    ref: Annotated[str, Query(max_length=200)] = "",
    endpoint: Annotated[str, Query(max_length=128)] = "",
) -> HTMLResponse:
    """The seven answers for ``ref``, through the same function as ``modelward readiness``."""
    from modelward.errors import ModelwardError
    from modelward.readiness import readiness as answer

    page.need(Permission.MODELS_READ)
    report: Any = None
    problem = ""
    if ref.strip():
        try:
            report = answer(page.session, ref.strip(), endpoint=endpoint.strip() or None)
        except ModelwardError as exc:
            problem = exc.message
    return page.render("readiness.html", ref=ref, endpoint=endpoint, report=report, problem=problem)

"""Feature views (owner, freshness, null rates, versions, models using them) and the
dataset snapshots lineage links to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse

from modelward.security import Permission
from modelward.web.rendering import Page, signed_in

__all__ = ["router"]

router = APIRouter()
Viewer = Annotated[Page, Depends(signed_in)]
Name = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


@router.get("/features", response_class=HTMLResponse)
def views(page: Viewer) -> HTMLResponse:
    from modelward import features

    page.need(Permission.DATASETS_READ)
    return page.render("features.html", views=features.list_views(page.session))


@router.get("/features/{name}", response_class=HTMLResponse)
def view(page: Viewer, name: Name) -> HTMLResponse:
    from modelward import features

    page.need(Permission.DATASETS_READ)
    shown = features.show(name, page.session)
    stats = features.stats_history(name, page.session, limit=1)
    return page.render("feature_view.html", v=shown, stats=stats[0] if stats else None)


@router.get("/snapshots/{ref}", response_class=HTMLResponse)
def snapshot(page: Viewer, ref: Annotated[str, Path(min_length=1, max_length=200)]) -> HTMLResponse:
    from modelward import data

    page.need(Permission.DATASETS_READ)
    return page.render("snapshot.html", s=data.get_snapshot(page.session, ref))

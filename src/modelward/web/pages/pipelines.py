"""Pipeline runs: steps, durations, cache hits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse

from modelward.security import Permission
from modelward.web import charts
from modelward.web.rendering import Page, signed_in

__all__ = ["router"]

router = APIRouter(prefix="/pipelines")
Viewer = Annotated[Page, Depends(signed_in)]


@router.get("", response_class=HTMLResponse)
def runs(
    page: Viewer,
    pipeline: Annotated[str, Query(max_length=128)] = "",
) -> HTMLResponse:
    from modelward import pipelines

    page.need(Permission.MODELS_READ)
    found = pipelines.list_runs(page.session, pipeline or None, limit=100)
    return page.render("pipelines.html", runs=found, pipeline=pipeline)


@router.get("/{run_id}", response_class=HTMLResponse)
def run(page: Viewer, run_id: Annotated[str, Path(min_length=4, max_length=64)]) -> HTMLResponse:
    from modelward import pipelines

    page.need(Permission.MODELS_READ)
    found = pipelines.get_run(page.session, run_id)
    durations = charts.bars(
        "wall seconds per step",
        [(s.step, s.wall_seconds or 0.0) for s in found.steps],
        unit=" s",
    )
    return page.render("pipeline_run.html", run=found, durations=durations)

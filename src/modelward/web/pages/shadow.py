"""An endpoint's shadow disagreement report: where the candidate decides differently
from the version that answers, by cohort and by input, with the top disagreeing requests.

The page shows ``rollout.shadow_report``'s data as the fragment the rollout context
renders for ``modelward rollout shadow-report --html`` (one rendering for both), inside
the dashboard's layout; no script, and its charts are inline SVG.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from modelward.errors import NotFound
from modelward.security import Permission
from modelward.web.pages.endpoints import _prediction_log
from modelward.web.rendering import Page, signed_in

__all__ = ["router"]

router = APIRouter(prefix="/endpoints")
Viewer = Annotated[Page, Depends(signed_in)]
Name = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Field = Annotated[str, Query(min_length=1, max_length=128)]


@router.get("/{name}/shadow", response_class=HTMLResponse)
def shadow(
    request: Request,
    page: Viewer,
    name: Name,
    release: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    segment: Annotated[list[Field] | None, Query(max_length=16)] = None,
    threshold: Annotated[float, Query(ge=-1e12, le=1e12)] = 0.5,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> HTMLResponse:
    from modelward import rollout

    page.need(Permission.ENDPOINTS_READ)
    page.need(Permission.RELEASES_READ)
    try:
        found = rollout.current_release(page.session, name) if release is None else None
    except NotFound:
        found = None
    if release is None and (found is None or found.strategy is not rollout.Strategy.SHADOW):
        # no shadow release to read: say so, and list the earlier ones to pick from
        earlier = [
            r
            for r in rollout.list_releases(page.session, name)
            if r.strategy is rollout.Strategy.SHADOW
        ][:20]
        return page.render("shadow.html", name=name, report=None, body=None, earlier=earlier)
    report = rollout.shadow_report(
        page.session,
        _prediction_log(request),
        name,
        release_id=release,
        segments=segment or (),
        threshold=threshold,
        top=top,
    )
    body = rollout.shadow_report_fragment(report.to_dict())
    return page.render("shadow.html", name=name, report=report, body=body, earlier=[])

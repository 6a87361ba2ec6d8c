"""Endpoints: definition, traffic plan, traffic over time from the prediction log, and
the release on it with its analysis.

Release actions call ``rollout.<verb>`` (advance, pause, resume, promote, abort,
rollback): the functions behind ``modelward rollout ...`` and ``/api/v1/rollout/...``.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from modelward.errors import NotFound
from modelward.security import Permission
from modelward.web import charts
from modelward.web.rendering import Page, act, form_of, signed_in
from modelward.web.traffic import TRAFFIC_COLUMNS, traffic_of

__all__ = ["router"]

router = APIRouter(prefix="/endpoints")
Viewer = Annotated[Page, Depends(signed_in)]
Name = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Verb = Literal["advance", "pause", "resume", "promote", "abort", "rollback"]
#: the time spans a page can show, and the bucket each is drawn in
SPANS = {"15m": (900, 30), "1h": (3600, 60), "6h": (6 * 3600, 300), "24h": (86_400, 1200)}
#: seconds between reloads of an endpoint page while its release is live (no script: a
#: ``<meta http-equiv="refresh">``)
LIVE_REFRESH_S = 30
_sink_lock = threading.Lock()


def _prediction_log(request: Request) -> Any:
    """The workspace's prediction log, opened once per dashboard (read side only)."""
    from modelward import monitoring

    state = request.app.state
    with _sink_lock:
        if getattr(state, "prediction_log", None) is None:
            state.prediction_log = monitoring.open_workspace_log(state.session)
        return state.prediction_log


@router.get("", response_class=HTMLResponse)
def endpoints(page: Viewer) -> HTMLResponse:
    from modelward import rollout, serving

    page.need(Permission.ENDPOINTS_READ)
    found = serving.list_endpoints(page.session)
    plans = rollout.current_plans(page.session) if page.can(Permission.RELEASES_READ) else {}
    live = {
        r.endpoint: r
        for r in (
            rollout.list_releases(page.session, live_only=True)
            if page.can(Permission.RELEASES_READ)
            else []
        )
    }
    return page.render("endpoints.html", endpoints=found, plans=plans, live=live)


@router.get("/{name}", response_class=HTMLResponse)
def endpoint(
    request: Request,
    page: Viewer,
    name: Name,
    span: Annotated[Literal["15m", "1h", "6h", "24h"], Query()] = "1h",
    refresh: Annotated[int | None, Query(ge=1, le=3600)] = None,
) -> HTMLResponse:
    from modelward import rollout, serving

    page.need(Permission.ENDPOINTS_READ)
    found = serving.get_endpoint(page.session, name)
    seconds, bucket = SPANS[span]
    end = time.time()
    start = end - seconds
    window = _prediction_log(request).read_window(
        name, start_us=int(start * 1e6), end_us=int(end * 1e6) + 1, columns=TRAFFIC_COLUMNS
    )
    traffic = traffic_of(window, start_s=start, end_s=end, bucket_s=bucket)
    per_minute = 60 / bucket
    rate = charts.time_series(
        "requests per minute",
        [
            charts.Series(
                "requests/min",
                [
                    (x, n * per_minute)
                    for x, n in zip(traffic.starts, traffic.requests, strict=True)
                ],
            )
        ],
    )
    latency = charts.time_series(
        "latency percentiles (ms)",
        [
            charts.Series("p50", list(zip(traffic.starts, traffic.p50, strict=True))),
            charts.Series("p95", list(zip(traffic.starts, traffic.p95, strict=True))),
            charts.Series("p99", list(zip(traffic.starts, traffic.p99, strict=True))),
        ],
        unit=" ms",
        threshold=found.spec.latency_budget_ms,
    )
    failures = charts.time_series(
        "errors and fallbacks per bucket",
        [
            charts.Series("errors", list(zip(traffic.starts, traffic.errors, strict=True))),
            charts.Series("fallbacks", list(zip(traffic.starts, traffic.fallbacks, strict=True))),
        ],
    )
    release = None
    history: list[Any] = []
    if page.can(Permission.RELEASES_READ):
        try:
            release = rollout.current_release(page.session, name)
        except NotFound:
            release = None
        history = rollout.list_releases(page.session, name)[:20]
    plan = release.plan().to_dict() if release is not None else None
    if refresh is None and release is not None and release.live:
        refresh = LIVE_REFRESH_S  # a live release moves on its own: keep the page current
    return page.render(
        "endpoint.html",
        e=found,
        spec=found.spec,
        span=span,
        spans=list(SPANS),
        traffic=traffic,
        overall=traffic.overall(),
        rate_chart=rate,
        latency_chart=latency,
        failure_chart=failures,
        release=release,
        plan=plan,
        history=history,
        can_operate=page.can(Permission.RELEASES_OPERATE),
        refresh=refresh,
        strategies=("canary", "blue-green", "shadow"),
    )


@router.post("/{name}/release")
async def start_release(request: Request, page: Viewer, name: Name) -> RedirectResponse:
    from modelward import serving

    form = await form_of(request, page)

    def run() -> str:
        page.need(Permission.RELEASES_OPERATE)
        release = serving.start_release(
            page.session,
            page.who,
            name,
            candidate=form.get("candidate", "").strip()[:200],
            strategy=form.get("strategy", "canary"),
        )
        what = f"{release.strategy.value} of {release.candidate}"
        return f"release {release.id} started on {name}: {what}"

    return act(page, f"/endpoints/{name}", run)


@router.post("/{name}/release/{verb}")
async def change_release(
    request: Request, page: Viewer, name: Name, verb: Verb
) -> RedirectResponse:
    from modelward import rollout

    form = await form_of(request, page)

    def run() -> str:
        page.need(Permission.RELEASES_OPERATE)
        expected = form.get("expected_version", "")
        change = getattr(rollout, verb)
        release = change(
            page.session,
            page.who,
            name,
            expected_version=int(expected) if expected.isdigit() else None,
            reason=form.get("reason", "").strip()[:2000] or None,
        )
        return f"release {release.id} on {name}: {verb} done, now {release.state}"

    return act(page, f"/endpoints/{name}", run)

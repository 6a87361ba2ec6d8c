"""Monitoring: alerts firing and resolved; per endpoint, drift per feature over its
monitor runs, data quality findings, KPIs and latency and error rates per version.

Acknowledging a firing alert calls ``monitoring.acknowledge_alert``: the function behind
``modelward monitor ack`` and ``/api/v1/alerts/.../acknowledge``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from modelward.security import Permission
from modelward.web import charts
from modelward.web.rendering import Page, act, form_of, signed_in

__all__ = ["router"]

router = APIRouter(prefix="/monitoring")
Viewer = Annotated[Page, Depends(signed_in)]
Name = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_MAX_FEATURE_LINES = 6


@router.get("", response_class=HTMLResponse)
def overview(page: Viewer) -> HTMLResponse:
    from modelward import monitoring, serving

    page.need(Permission.ENDPOINTS_READ)
    alerts = monitoring.list_alerts(page.session)
    names = [e.name for e in serving.list_endpoints(page.session)]
    return page.render(
        "monitoring.html",
        alerts=alerts,
        endpoints=names,
        can_ack=page.can(Permission.ALERTS_ACKNOWLEDGE),
    )


@router.post("/alerts/acknowledge")
async def acknowledge(request: Request, page: Viewer) -> RedirectResponse:
    from modelward import monitoring

    form = await form_of(request, page)
    endpoint, key = form.get("endpoint", "")[:128], form.get("key", "")[:200]
    back = form.get("back", "")
    # back to the page the form was on; only a well-formed name makes a path
    named = _NAME.fullmatch(endpoint) is not None
    to = f"/monitoring/{endpoint}" if back == "endpoint" and named else "/monitoring"

    def run() -> str:
        page.need(Permission.ALERTS_ACKNOWLEDGE)
        note = form.get("note", "").strip()[:2000]
        monitoring.acknowledge_alert(page.session, page.who, endpoint, key, note=note)
        return f"alert {key} on {endpoint} acknowledged: no reminder until it resolves"

    return act(page, to, run)


def _at(run: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(run["window_end"])).timestamp()


def _drift_scores(run: dict[str, Any]) -> dict[str, float]:
    """feature -> its drift score in this run (the largest over the run's versions)."""
    scores: dict[str, float] = {}
    for version in run.get("versions") or []:
        features = ((version.get("drift") or {}).get("features")) or []
        for f in features:
            score = f.get("effect")
            if isinstance(score, int | float):
                name = str(f.get("feature"))
                scores[name] = max(scores.get(name, 0.0), float(score))
    return scores


def _kpi_mean(run: dict[str, Any], name: str) -> float | None:
    for kpi in run.get("kpis") or []:
        if kpi.get("name") == name:
            value = kpi.get("window_mean")
            return float(value) if isinstance(value, int | float) else None
    return None


@router.get("/{name}", response_class=HTMLResponse)
def endpoint(page: Viewer, name: Name) -> HTMLResponse:
    from modelward import monitoring

    page.need(Permission.ENDPOINTS_READ)
    # oldest first, for the time axis (list_runs gives the newest first)
    runs = sorted(monitoring.list_runs(page.session, name, limit=50), key=_at)
    per_run = [(_at(r), _drift_scores(r)) for r in runs]
    latest = per_run[-1][1] if per_run else {}
    top = sorted(latest, key=lambda f: -latest[f])[:_MAX_FEATURE_LINES]
    drift = charts.time_series(
        "drift score per feature over monitor runs",
        [charts.Series(f, [(at, scores.get(f)) for at, scores in per_run]) for f in top],
    )
    kpi_names = sorted({k["name"] for r in runs for k in r.get("kpis") or []})
    kpis = charts.time_series(
        "KPI mean per monitor window",
        [charts.Series(k, [(_at(r), _kpi_mean(r, k)) for r in runs]) for k in kpi_names],
    )
    return page.render(
        "monitoring_endpoint.html",
        name=name,
        runs=runs,
        latest=runs[-1] if runs else None,
        drift_chart=drift,
        kpi_chart=kpis,
        alerts=monitoring.list_alerts(page.session, name),
        can_ack=page.can(Permission.ALERTS_ACKNOWLEDGE),
    )

"""A monitor run: one window of an endpoint's log, checked against each version's reference.

``run_monitor`` reads the window (``[end - window, end)``) once, then per model version
in it: drift and data quality against the version's reference profile (or "no reference"
when the version has none), error, degraded and latency figures, and the realised
performance where labels have arrived. Its *findings* are every drifted feature and data
quality anomaly (ordered by importance); its *alerts* are what the alert rule
(:mod:`~modelward.monitoring.alerts`) fired or resolved. The result, the alert states and
their audit entries are stored in one transaction, and only once everything was computed:
a log that cannot be read raises :class:`~modelward.errors.StoreUnavailable` and nothing
is stored. Alert changes are handed to the webhook after the commit (queued, not awaited).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from modelward import security
from modelward.errors import Conflict, InputError, NotFound
from modelward.monitoring.alerts import (
    AlertChange,
    AlertPolicy,
    Condition,
    apply_alert_policy,
    conditions_of,
)
from modelward.monitoring.drift import DriftReport, DriftThresholds, detect_drift
from modelward.monitoring.kpis import kpi_changes
from modelward.monitoring.labels import Performance, prediction_scores, realised_performance
from modelward.monitoring.predictions import open_workspace_log, refused_fields
from modelward.monitoring.references import find_profile
from modelward.monitoring.rules import rule_conditions
from modelward.monitoring.tables import monitor_runs
from modelward.monitoring.upstream import upstream_sources
from modelward.monitoring.usage import system_figures

if TYPE_CHECKING:
    from modelward.monitoring.predictions import PredictionSink
    from modelward.monitoring.webhooks import WebhookSender
    from modelward.session import Session

__all__ = [
    "Finding",
    "MonitorResult",
    "VersionResult",
    "get_run",
    "latest_run",
    "run_monitor",
]

#: an endpoint name, as serving accepts it (it also names report files)
_ENDPOINT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

#: (step done, steps in all, what is being done) for a progress bar
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Finding:
    #: "drift", "prediction_drift" or "data_quality"
    kind: str
    version: str
    feature: str
    message: str
    #: the feature's share of the version's importance (0 when unknown)
    importance: float = 0.0


@dataclass(frozen=True)
class VersionResult:
    model: str
    version: str
    rows: int
    #: "present" or "missing": whether the version has a reference profile
    reference: str
    error_rate: float
    degraded_rate: float
    latency_ms: dict[str, float]
    drift: dict[str, Any] | None = None
    performance: dict[str, Any] | None = None
    #: requests for this version the gateway's validation refused (422), not in ``rows``
    refused: int = 0
    #: how often each field was named by those refusals
    refused_fields: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitorResult:
    id: str
    endpoint: str
    window_start: datetime
    window_end: datetime
    rows: int
    versions: list[VersionResult]
    findings: list[Finding] = field(default_factory=list)
    #: what the alert rule found in this run (``Condition.to_dict()``), held or not yet
    conditions: list[dict[str, Any]] = field(default_factory=list)
    #: why the rule stayed silent for a version (no reference, no labels, AUC holds)
    notes: list[str] = field(default_factory=list)
    #: the endpoint's KPIs in this window against the windows before (``KpiChange``)
    kpis: list[dict[str, Any]] = field(default_factory=list)
    #: alerts fired or resolved by this run (``AlertChange.to_dict()``)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    #: the gateway workers' CPU, memory and cost per 1,000 predictions in the window
    #: (:func:`~modelward.monitoring.usage.system_figures`); None when none reported
    system: dict[str, Any] | None = None
    #: where each feature with a data quality anomaly came from (feature view, snapshot)
    upstream: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["window_start"] = self.window_start.isoformat()
        data["window_end"] = self.window_end.isoformat()
        return data


def _inputs(window: pa.Table) -> pa.Table:
    inputs = window.column("inputs").combine_chunks()
    names = [inputs.type.field(i).name for i in range(inputs.type.num_fields)]
    return pa.Table.from_arrays(inputs.flatten(), names=names)


def _refusals(refused: pa.Table) -> dict[tuple[str, str], tuple[int, dict[str, int]]]:
    """Per (model, version): the refused requests and how often each field was named
    (the log row's error is a :func:`~modelward.monitoring.predictions.base.refusal_error`)."""
    found: dict[tuple[str, str], tuple[int, dict[str, int]]] = {}
    for model, version, error in zip(
        refused.column("model").to_pylist(),
        refused.column("model_version").to_pylist(),
        refused.column("error").to_pylist(),
        strict=True,
    ):
        count, named = found.get((model, version), (0, {}))
        for name in refused_fields(error or ""):
            named[name] = named.get(name, 0) + 1
        found[(model, version)] = (count + 1, named)
    return found


def _latency(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def _findings(version: str, report: DriftReport, importance: dict[str, float]) -> list[Finding]:
    found = []
    for f in report.features:
        weight = importance.get(f.feature, 0.0)
        if f.status == "drift":
            found.append(
                Finding(
                    "drift",
                    version,
                    f.feature,
                    f"{f.feature} drifted: {f.effect_name} {f.effect:.3f} "
                    f"(corrected p {f.p_value:.1e})",
                    weight,
                )
            )
        for anomaly in f.quality:
            found.append(
                Finding("data_quality", version, f.feature, f"{f.feature}: {anomaly}", weight)
            )
    p = report.prediction
    if p is not None and p.status == "drift":
        found.append(
            Finding(
                "prediction_drift", version, "prediction", f"predictions drifted: {p.effect:.3f}"
            )
        )
    return sorted(found, key=lambda a: (-a.importance, a.kind, a.feature))


def check_endpoint_name(endpoint: str) -> None:
    if not _ENDPOINT.match(endpoint):
        raise InputError(
            f"endpoint {endpoint[:60]!r}: letters, digits, '_', '.', '-' (up to 128), "
            "starting with a letter or digit",
            field="endpoint",
        )


def run_monitor(
    session: Session,
    endpoint: str,
    *,
    window: timedelta = timedelta(hours=1),
    end: datetime | None = None,
    log: PredictionSink | None = None,
    thresholds: DriftThresholds | None = None,
    actor: str | None = None,
    policy: AlertPolicy | None = None,
    webhook: WebhookSender | None = None,
    segments: Sequence[str] = (),
    progress: Progress | None = None,
    tick: datetime | None = None,
) -> MonitorResult:
    """Check the last ``window`` of ``endpoint`` (ending at ``end``, default now) and store
    the result (audited).

    >>> result = run_monitor(session, "churn", window=timedelta(hours=6))  # doctest: +SKIP
    >>> [f.message for f in result.findings]
    ['monthly_spend drifted: wasserstein_sd 0.412 (corrected p 1.2e-30)']

    ``policy`` defaults to ``[monitoring]`` of the workspace; ``webhook`` receives the
    alert changes after the commit; ``segments`` are input fields whose values realised
    performance is also broken down by. ``tick`` marks a scheduled run: a second run of
    the same endpoint and tick raises :class:`~modelward.errors.Conflict` and stores
    nothing (its alert changes are rolled back with it and never sent).
    """
    check_endpoint_name(endpoint)
    if window <= timedelta(0):
        raise InputError("window: must be longer than zero", field="window")
    stop = (end or datetime.now(UTC)).astimezone(UTC)
    start = stop - window
    tell = progress or (lambda done, total, what: None)
    tell(0, 3, f"reading {endpoint} from {start:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M}")
    sink = log if log is not None else open_workspace_log(session)
    try:
        rows = sink.read_window(
            endpoint,
            start_us=int(start.timestamp() * 1e6),
            end_us=int(stop.timestamp() * 1e6),
        )
    finally:
        if log is None:
            sink.close()
    # requests the gateway refused (422) reached no model: not the version's inputs,
    # errors or latency (the staging_schema gate counts them), but a spike of them is a
    # broken upstream, which the alert rule reports as a data pipeline incident
    refused = _refusals(rows.filter(pc.equal(rows.column("role"), "rejected")))
    rows = rows.filter(pc.not_equal(rows.column("role"), "rejected"))
    pairs = sorted(
        set(
            zip(
                rows.column("model").to_pylist(),
                rows.column("model_version").to_pylist(),
                strict=True,
            )
        )
        | set(refused)
    )
    total = len(pairs) + 2
    versions: list[VersionResult] = []
    findings: list[Finding] = []
    importance: dict[str, dict[str, float]] = {}
    held_out_auc: dict[str, float | None] = {}
    for step, (model, version) in enumerate(pairs, start=1):
        tell(step, total, f"checking {model}@{version}")
        mask = pc.and_(
            pc.equal(rows.column("model"), model), pc.equal(rows["model_version"], version)
        )
        part = rows.filter(mask)
        reference = find_profile(session, model, int(version)) if version.isdigit() else None
        drift = None
        count, named = refused.get((model, version), (0, {}))
        if not part.num_rows:  # every request for it was refused: nothing to measure
            versions.append(
                VersionResult(
                    model,
                    version,
                    0,
                    "present" if reference else "missing",
                    0.0,
                    0.0,
                    {},
                    refused=count,
                    refused_fields=named,
                )
            )
            continue
        if reference is not None:
            report = detect_drift(
                reference, _inputs(part), predictions=prediction_scores(part), thresholds=thresholds
            )
            drift = report.to_dict()
            findings.extend(_findings(version, report, reference.importance))
            importance[version] = reference.importance
            held_out_auc[version] = reference.metrics.get("roc_auc")
        performance: Performance = realised_performance(session, endpoint, part, segments=segments)
        versions.append(
            VersionResult(
                model=model,
                version=version,
                rows=part.num_rows,
                reference="present" if reference is not None else "missing",
                error_rate=float(pc.mean(pc.not_equal(part["error"], "")).as_py() or 0.0),
                degraded_rate=float(pc.mean(part["degraded"]).as_py() or 0.0),
                latency_ms=_latency(part.column("latency_ms").to_numpy()),
                drift=drift,
                performance=performance.to_dict(),
                refused=count,
                refused_fields=named,
            )
        )
    tell(total - 1, total, "storing the result")
    rule = policy or _policy(session)
    kpis = [
        k.to_dict()
        for k in kpi_changes(
            session,
            endpoint,
            start,
            stop,
            max_change=session.workspace.settings.monitoring.max_kpi_change,
        )
    ]
    system = system_figures(
        session,
        start,
        stop,
        cost_per_core_hour=session.workspace.settings.serving.cost_per_core_hour,
    )
    measured = [asdict(v) for v in versions]
    upstream = _upstream(session, measured, stop)
    conditions, notes = conditions_of(
        measured, importance, held_out_auc, rule, kpis, upstream=upstream
    )
    own, own_notes = rule_conditions(
        session.workspace.settings.monitoring.rules, endpoint, measured, kpis, system
    )
    conditions, notes = conditions + own, notes + own_notes
    who = actor or session.actor
    draft = MonitorResult(
        id=uuid.uuid4().hex,
        endpoint=endpoint,
        window_start=start,
        window_end=stop,
        rows=rows.num_rows,
        versions=versions,
        findings=findings,
        conditions=[c.to_dict() for c in conditions],
        notes=notes,
        kpis=kpis,
        system=system,
        upstream=upstream,
    )
    try:
        result, changes = _store(session, draft, conditions, rule, who, tick)
    except IntegrityError:
        raise Conflict(
            f"endpoint {endpoint!r} already has a monitor run for the tick {tick}",
            endpoint=endpoint,
        ) from None
    if webhook is not None:
        webhook.send(changes)
    tell(total, total, "done")
    return result


def _upstream(session: Session, measured: list[dict[str, Any]], stop: datetime) -> dict[str, str]:
    """The sources of the features with a data quality anomaly (none: nothing is read)."""
    broken = sorted(
        {
            f["feature"]
            for v in measured
            for f in (v.get("drift") or {}).get("features", [])
            if f.get("quality")
        }
    )
    return upstream_sources(session, broken, before=stop) if broken else {}


def _store(
    session: Session,
    draft: MonitorResult,
    conditions: list[Condition],
    rule: AlertPolicy,
    who: str,
    tick: datetime | None,
) -> tuple[MonitorResult, list[AlertChange]]:
    """The result, the alert states and their audit entries, in one transaction."""
    with session.store.transaction() as conn:
        changes = apply_alert_policy(
            conn,
            endpoint=draft.endpoint,
            run_id=draft.id,
            conditions=conditions,
            policy=rule,
            now=datetime.now(UTC),
            actor=who,
        )
        result = replace(draft, alerts=[c.to_dict() for c in changes])
        conn.execute(
            insert(monitor_runs).values(
                id=result.id,
                endpoint=result.endpoint,
                window_start=result.window_start,
                window_end=result.window_end,
                rows=result.rows,
                result=result.to_dict(),
                created_by=who,
                created_at=datetime.now(UTC),
                tick=tick,
            )
        )
        security.record(
            conn,
            actor=who,
            action="monitoring.run",
            target=f"endpoint:{result.endpoint}",
            payload={"run": result.id, "rows": result.rows, "alerts": len(changes)},
        )
    return result, changes


def _policy(session: Session) -> AlertPolicy:
    settings = session.workspace.settings.monitoring
    return AlertPolicy(
        min_importance=settings.min_importance,
        max_auc_drop=settings.max_auc_drop,
        max_refused_rate=settings.max_refused_rate,
        min_refused=settings.min_refused,
        persistence=settings.persistence,
        cooldown=timedelta(seconds=settings.cooldown_s),
    )


def get_run(session: Session, run_id: str) -> dict[str, Any]:
    """A stored run's result (as :meth:`MonitorResult.to_dict` gave it)."""
    with session.store.read() as conn:
        stored = conn.execute(
            select(monitor_runs.c.result).where(monitor_runs.c.id == run_id)
        ).scalar_one_or_none()
    if stored is None:
        raise NotFound(f"monitor run {run_id[:40]!r} does not exist", run=run_id[:40])
    return dict(stored)


def latest_run(session: Session, endpoint: str) -> dict[str, Any]:
    """The newest stored run of ``endpoint``; :class:`NotFound` when it was never run."""
    with session.store.read() as conn:
        stored = conn.execute(
            select(monitor_runs.c.result)
            .where(monitor_runs.c.endpoint == endpoint)
            .order_by(monitor_runs.c.created_at.desc())
            .limit(1)
        ).scalar_one_or_none()
    if stored is None:
        raise NotFound(
            f"endpoint {endpoint[:60]!r} has no monitor run yet; run "
            f"`modelward monitor run {endpoint[:60]}` first",
            endpoint=endpoint[:60],
        )
    return dict(stored)

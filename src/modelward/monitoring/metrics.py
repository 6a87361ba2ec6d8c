"""Prometheus gauges of what the monitor runs found: per endpoint, version and feature.

The figures come from each endpoint's latest stored run, read when Prometheus scrapes (at
most once per ``cache_s``), so the request path pays nothing for them. Label sets are
bounded: endpoints, the versions in a run's window, the features of a version's reference
profile, the alert keys; never a request, an entity or a value.

    modelward_monitor_feature_drift{endpoint="churn",version="3",feature="monthly_spend"} 0.41
    modelward_monitor_alert_firing{endpoint="churn",key="model_drift:3"} 1
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from modelward.monitoring.tables import alert_states, monitor_runs

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["MonitoringCollector"]

_PREFIX = "modelward_monitor"


def _latest_runs(session: Session) -> list[dict[str, Any]]:
    newest = (
        select(monitor_runs.c.endpoint, func.max(monitor_runs.c.created_at).label("at"))
        .group_by(monitor_runs.c.endpoint)
        .subquery()
    )
    query = select(monitor_runs.c.result, monitor_runs.c.created_at).join(
        newest,
        (monitor_runs.c.endpoint == newest.c.endpoint) & (monitor_runs.c.created_at == newest.c.at),
    )
    with session.store.read() as conn:
        return [
            {**dict(row.result), "_stored_at": row.created_at.timestamp()}
            for row in conn.execute(query)
        ]


def _alerts(session: Session) -> list[tuple[str, str, bool]]:
    with session.store.read() as conn:
        rows = conn.execute(
            select(alert_states.c.endpoint, alert_states.c.key, alert_states.c.state)
        ).all()
    return [(r.endpoint, r.key, r.state == "firing") for r in rows]


class MonitoringCollector(Collector):
    """A custom collector over the stored monitor runs (register it on a registry)."""

    def __init__(self, session: Session, *, cache_s: float = 15.0) -> None:
        self._session = session
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self._cache_s:
                self._cached = (now, self._build())
            yield from self._cached[1]

    def _build(self) -> list[Metric]:
        def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{_PREFIX}_{name}", doc, labels=labels)

        per_version = ["endpoint", "version"]
        rows = gauge("rows", "Predictions in the latest monitor run's window", per_version)
        errors = gauge("error_rate", "Share of errors in the window", per_version)
        degraded = gauge("degraded_rate", "Share of degraded answers in the window", per_version)
        p95 = gauge("latency_p95_ms", "95th percentile latency in the window", per_version)
        auc = gauge("auc", "Realised AUC on the labelled rows of the window", per_version)
        ece = gauge("ece", "Realised calibration error on the labelled rows", per_version)
        coverage = gauge("label_coverage", "Share of the window's rows labelled", per_version)
        per_feature = ["endpoint", "version", "feature"]
        drift = gauge("feature_drift", "Drift effect size against the reference", per_feature)
        drifting = gauge(
            "feature_drifting", "1 when the feature's drift is significant", per_feature
        )
        nulls = gauge("feature_null_rate", "Null rate of the feature in the window", per_feature)
        last = gauge("last_run_timestamp_seconds", "When the latest run was stored", ["endpoint"])
        # the gateway workers' figures of the run's window: per endpoint, never per worker
        # (a restarted worker is a new id: that label set would grow without bound)
        workers = gauge("workers", "Gateway workers that reported in the window", ["endpoint"])
        cpu_mean = gauge(
            "worker_cpu_mean_cores",
            "CPU of the gateway workers in the window, in cores",
            ["endpoint"],
        )
        cpu_max = gauge("worker_cpu_max_cores", "CPU of the busiest gateway worker", ["endpoint"])
        memory = gauge(
            "worker_memory_max_bytes", "Largest resident memory of a gateway worker", ["endpoint"]
        )
        cost = gauge(
            "cost_per_1000_predictions",
            "Worker time priced at [serving] cost_per_core_hour, per 1,000 predictions",
            ["endpoint"],
        )
        for run in _latest_runs(self._session):
            endpoint = str(run.get("endpoint", ""))
            last.add_metric([endpoint], run["_stored_at"])
            system = run.get("system")
            if system:
                workers.add_metric([endpoint], float(system["workers"]))
                cpu_mean.add_metric([endpoint], float(system["cpu_mean"]))
                cpu_max.add_metric([endpoint], float(system["cpu_max"]))
                memory.add_metric([endpoint], float(system["rss_mb_max"]) * 2**20)
                if system.get("cost_per_1000") is not None:
                    cost.add_metric([endpoint], float(system["cost_per_1000"]))
            for v in run.get("versions", []):
                labels = [endpoint, str(v.get("version", ""))]
                rows.add_metric(labels, float(v.get("rows") or 0))
                errors.add_metric(labels, float(v.get("error_rate") or 0.0))
                degraded.add_metric(labels, float(v.get("degraded_rate") or 0.0))
                if (v.get("latency_ms") or {}).get("p95") is not None:
                    p95.add_metric(labels, float(v["latency_ms"]["p95"]))
                perf = v.get("performance") or {}
                for family, key in ((auc, "auc"), (ece, "ece"), (coverage, "coverage")):
                    if perf.get(key) is not None:
                        family.add_metric(labels, float(perf[key]))
                for f in (v.get("drift") or {}).get("features", []):
                    feature = [*labels, str(f.get("feature", ""))]
                    if f.get("effect") is not None:
                        drift.add_metric(feature, float(f["effect"]))
                    drifting.add_metric(feature, 1.0 if f.get("status") == "drift" else 0.0)
                    nulls.add_metric(feature, float(f.get("null_rate_window") or 0.0))
        firing = gauge(
            "alert_firing", "1 while the alert fires, 0 once resolved", ["endpoint", "key"]
        )
        for endpoint, key, on in _alerts(self._session):
            firing.add_metric([endpoint, key], 1.0 if on else 0.0)
        return [
            rows,
            errors,
            degraded,
            p95,
            auc,
            ece,
            coverage,
            drift,
            drifting,
            nulls,
            last,
            workers,
            cpu_mean,
            cpu_max,
            memory,
            cost,
            firing,
        ]

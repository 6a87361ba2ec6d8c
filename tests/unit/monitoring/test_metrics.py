"""The monitoring gauges Prometheus scrapes: each endpoint's latest stored run only, bounded
labels, absent figures left out rather than reported as zero, and a cache between scrapes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert

from modelward.config import Workspace
from modelward.monitoring.metrics import MonitoringCollector
from modelward.monitoring.tables import alert_states, monitor_runs
from modelward.session import Session

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def store_run(session: Session, endpoint: str, at: datetime, **result: Any) -> None:
    with session.store.transaction() as conn:
        conn.execute(
            insert(monitor_runs).values(
                id=uuid.uuid4().hex,
                endpoint=endpoint,
                window_start=at - timedelta(hours=1),
                window_end=at,
                rows=0,
                result={"endpoint": endpoint, **result},
                created_by="test-setup",
                created_at=at,
            )
        )


def store_alert(session: Session, endpoint: str, key: str, state: str) -> None:
    with session.store.transaction() as conn:
        conn.execute(
            insert(alert_states).values(
                endpoint=endpoint,
                key=key,
                state=state,
                fired_at=T0,
                last_sent_at=T0,
                message="m",
            )
        )


def scrape(collector: MonitoringCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(f"modelward_monitor_{name}", labels)


VERSION = {
    "version": "3",
    "rows": 600,
    "error_rate": 0.01,
    "degraded_rate": None,  # not measured: reported as 0, the run saw none
    "latency_ms": {"p95": 41.5},
    "performance": {"auc": 0.81, "ece": None, "coverage": 0.5},
    "drift": {
        "features": [
            {
                "feature": "monthly_spend",
                "effect": 0.41,
                "status": "drift",
                "null_rate_window": 0.02,
            },
            {"feature": "tenure", "effect": None, "status": "ok"},
        ]
    },
}


def test_the_latest_run_of_each_endpoint_is_what_is_reported(session: Session) -> None:
    store_run(session, "churn", T0 - timedelta(hours=1), versions=[{**VERSION, "rows": 1}])
    store_run(session, "churn", T0, versions=[VERSION])
    registry = scrape(MonitoringCollector(session))
    churn3 = {"endpoint": "churn", "version": "3"}
    assert value(registry, "rows", **churn3) == 600  # not the older run's 1
    assert value(registry, "error_rate", **churn3) == 0.01
    assert value(registry, "degraded_rate", **churn3) == 0.0
    assert value(registry, "latency_p95_ms", **churn3) == 41.5
    assert value(registry, "auc", **churn3) == 0.81
    assert value(registry, "label_coverage", **churn3) == 0.5
    assert value(registry, "last_run_timestamp_seconds", endpoint="churn") == T0.timestamp()


def test_a_figure_the_run_did_not_measure_is_absent_not_zero(session: Session) -> None:
    store_run(session, "churn", T0, versions=[{**VERSION, "latency_ms": {}}])
    registry = scrape(MonitoringCollector(session))
    churn3 = {"endpoint": "churn", "version": "3"}
    assert value(registry, "ece", **churn3) is None  # no labels: no calibration figure
    assert value(registry, "latency_p95_ms", **churn3) is None
    tenure = {**churn3, "feature": "tenure"}
    assert value(registry, "feature_drift", **tenure) is None  # an effect not computed
    assert value(registry, "feature_drifting", **tenure) == 0.0
    assert value(registry, "feature_null_rate", **tenure) == 0.0


def test_drift_is_reported_per_feature_with_its_status(session: Session) -> None:
    store_run(session, "churn", T0, versions=[VERSION])
    registry = scrape(MonitoringCollector(session))
    spend = {"endpoint": "churn", "version": "3", "feature": "monthly_spend"}
    assert value(registry, "feature_drift", **spend) == 0.41
    assert value(registry, "feature_drifting", **spend) == 1.0
    assert value(registry, "feature_null_rate", **spend) == 0.02


def test_worker_figures_are_per_endpoint_with_memory_in_bytes(session: Session) -> None:
    system = {
        "workers": 2,
        "cpu_mean": 0.4,
        "cpu_max": 0.7,
        "rss_mb_max": 300,
        "cost_per_1000": None,
    }
    store_run(session, "churn", T0, versions=[], system=system)
    store_run(session, "fraud", T0, versions=[], system={**system, "cost_per_1000": 0.012})
    registry = scrape(MonitoringCollector(session))
    assert value(registry, "workers", endpoint="churn") == 2
    assert value(registry, "worker_cpu_max_cores", endpoint="churn") == 0.7
    assert value(registry, "worker_memory_max_bytes", endpoint="churn") == 300 * 2**20
    assert value(registry, "cost_per_1000_predictions", endpoint="churn") is None  # unpriced
    assert value(registry, "cost_per_1000_predictions", endpoint="fraud") == 0.012


def test_alerts_are_one_while_firing_and_zero_once_resolved(session: Session) -> None:
    store_alert(session, "churn", "model_drift:3", "firing")
    store_alert(session, "churn", "error_rate:3", "resolved")
    registry = scrape(MonitoringCollector(session))
    assert value(registry, "alert_firing", endpoint="churn", key="model_drift:3") == 1.0
    assert value(registry, "alert_firing", endpoint="churn", key="error_rate:3") == 0.0


def test_scrapes_within_the_cache_period_read_the_store_once(session: Session) -> None:
    store_run(session, "churn", T0, versions=[VERSION])
    cached = MonitoringCollector(session, cache_s=3600)
    registry = scrape(cached)
    assert value(registry, "rows", endpoint="churn", version="3") == 600
    store_run(session, "churn", T0 + timedelta(hours=1), versions=[{**VERSION, "rows": 7}])
    assert value(registry, "rows", endpoint="churn", version="3") == 600  # the cached figure
    fresh = scrape(MonitoringCollector(session, cache_s=0))
    assert value(fresh, "rows", endpoint="churn", version="3") == 7

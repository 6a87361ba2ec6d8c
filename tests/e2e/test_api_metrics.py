"""``GET /api/v1/metrics``: the monitor runs' findings as Prometheus gauges, behind a token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from modelward.api import create_app
from modelward.config import Workspace
from modelward.monitoring import AlertPolicy, build_profile, run_monitor, save_profile
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.security import tokens
from modelward.security.roles import Role
from modelward.session import Session
from tests.unit.monitoring.support import T0_US, logged, training_rows
from tests.unit.registry.support import admin, principal

START = datetime.fromtimestamp(T0_US / 1e6, UTC)


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    (sqlite_workspace.root / "modelward.toml").write_text(
        '[[monitoring.rules]]\nname = "slow"\nwhen = "latency_ms.p95 > 5"\npersistence = 1\n'
    )
    ws = Workspace.open(sqlite_workspace.root, environ={"MODELWARD_IDENTITY__USER": "tester"})
    with Session(ws) as s:
        save_profile(s, "churn", 1, build_profile(training_rows(2_000)), actor="t")
        log = MemoryPredictionSink()
        log.write(logged(600, spend_shift=1.0))
        run_monitor(
            s,
            "churn",
            window=timedelta(hours=1),
            end=START + timedelta(hours=1),
            log=log,
            policy=AlertPolicy(persistence=1),
        )
        yield s


def test_a_viewer_scrapes_drift_per_feature_and_the_firing_alert(session: Session) -> None:
    principal(session, "prom", Role.VIEWER)
    _, secret = tokens.issue_token(session, admin(session), "prom", "scraper")
    with TestClient(create_app(session), raise_server_exceptions=False) as http:
        assert http.get("/api/v1/metrics").status_code == 401
        r = http.get("/api/v1/metrics", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }
    spend = ("endpoint", "churn"), ("feature", "monthly_spend"), ("version", "1")
    assert samples[("modelward_monitor_feature_drifting", spend)] == 1.0
    assert samples[("modelward_monitor_feature_drift", spend)] > 0.5
    assert samples[("modelward_monitor_rows", (("endpoint", "churn"), ("version", "1")))] == 600
    firing = (("endpoint", "churn"), ("key", "rule:slow:1"))
    assert samples[("modelward_monitor_alert_firing", firing)] == 1.0
    # bounded label sets: no request ids, no values
    assert all(set(dict(k[1])) <= {"endpoint", "version", "feature", "key"} for k in samples)

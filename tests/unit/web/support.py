"""A small world for the dashboard's tests: a model with three versions (complete lineage
on a real snapshot), an approval policy, an endpoint with a live canary, an hour of
logged predictions, two monitor runs and a firing alert, and a token per role.

Versions are written into the registry's tables (no MLflow training); every state change
the tests make goes through the dashboard, hence through the contexts' own functions.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import insert

from modelward import monitoring, serving
from modelward.config import Workspace
from modelward.monitoring.tables import alert_states, monitor_runs
from modelward.registry import lifecycle
from modelward.security import Principal, Role, tokens
from modelward.session import Session
from tests.unit.registry.support import admin, make_snapshot, principal
from tests.unit.registry.test_lineage import complete
from tests.unit.rollout.support import catalogue

#: who signs in, and their role; "ana" is the lineage author of every churn version
PEOPLE = {
    "ana": Role.APPROVER,
    "alice": Role.APPROVER,
    "olga": Role.OPERATOR,
    "vic": Role.VIEWER,
}


@dataclass
class World:
    session: Session
    tokens: dict[str, str]
    snapshot_id: str
    people: dict[str, Principal]


def _predictions(now: datetime, rows: int = 600) -> list[monitoring.PredictionRecord]:
    start = now - timedelta(minutes=55)
    out = []
    for i in range(rows):
        at = start + timedelta(seconds=i * 5.5)
        candidate = i % 5 == 0
        out.append(
            monitoring.PredictionRecord(
                request_id=f"r{i}",
                at_us=int(at.timestamp() * 1e6),
                endpoint="churn",
                model="churn",
                model_version="2" if candidate else "1",
                inputs={"customer_id": i, "discount": 0.1},
                prediction=0.3,
                latency_ms=5.0 + (i % 17),
                degraded=i % 40 == 0,
                role="candidate" if candidate else "primary",
                error="Timeout" if i % 97 == 0 else "",
            )
        )
    return out


def _monitor_result(run_id: str, end: datetime, effect: float) -> dict[str, object]:
    return {
        "id": run_id,
        "endpoint": "churn",
        "window_start": (end - timedelta(hours=1)).isoformat(),
        "window_end": end.isoformat(),
        "rows": 600,
        "versions": [
            {
                "model": "churn",
                "version": "1",
                "rows": 480,
                "reference": "present",
                "error_rate": 0.01,
                "degraded_rate": 0.02,
                "latency_ms": {"p50": 12.0, "p95": 20.0, "p99": 21.0},
                "drift": {
                    "rows": 480,
                    "drifted": ["discount"] if effect > 0.2 else [],
                    "quality_anomalies": {},
                    "features": [
                        {"feature": "discount", "effect": effect, "status": "drift"},
                        {"feature": "tenure", "effect": 0.05, "status": "ok"},
                    ],
                },
                "performance": {"auc": 0.81},
            }
        ],
        "findings": [
            {
                "kind": "drift",
                "version": "1",
                "feature": "discount",
                "message": "discount drifted",
                "importance": 0.4,
            }
        ],
        "conditions": [],
        "notes": [],
        "kpis": [],
        "alerts": [],
    }


def build_world(workspace: Workspace) -> World:
    session = Session(workspace)
    boss = admin(session)
    snap = make_snapshot(session, rows=50)
    lineage = complete()
    lineage["datasets"] = [
        {
            "snapshot_id": snap.id,
            "name": snap.name,
            "version": snap.version,
            "content_hash": snap.content_hash,
        }
    ]
    catalogue(session, "churn", [lineage, dict(lineage), dict(lineage)])
    lifecycle.set_approval_policy(session, boss, "churn", "Production", 1)
    secrets = {}
    people = {}
    for name, role in PEOPLE.items():
        people[name] = principal(session, name, role)
        _, secrets[name] = tokens.issue_token(session, boss, name, "dashboard-test")
    spec = serving.parse_spec(
        {
            "name": "churn",
            "model": "churn@1",
            "request": {"customer_id": "int", "discount": "float"},
            "entity_keys": ["customer_id"],
            "pii_fields": ["customer_id"],
        }
    )
    serving.create_endpoint(session, boss, spec)
    serving.start_release(session, people["olga"], "churn", candidate="churn@2", strategy="canary")
    now = datetime.now(UTC)
    sink = monitoring.open_workspace_log(session)
    try:
        sink.write(_predictions(now))
    finally:
        sink.close()
    with session.store.transaction() as conn:
        for back, effect in ((2, 0.05), (1, 0.3)):
            end = now - timedelta(hours=back - 1)
            run_id = uuid.uuid4().hex
            conn.execute(
                insert(monitor_runs).values(
                    id=run_id,
                    endpoint="churn",
                    window_start=end - timedelta(hours=1),
                    window_end=end,
                    rows=600,
                    result=_monitor_result(run_id, end, effect),
                    created_by="test-setup",
                    created_at=end - timedelta(hours=2) + timedelta(minutes=back),
                )
            )
        conn.execute(
            insert(alert_states).values(
                endpoint="churn",
                key="model_drift:1",
                state="firing",
                fired_at=now - timedelta(minutes=20),
                last_sent_at=now - timedelta(minutes=20),
                message="discount drifts and AUC fell 0.04 below the reference",
            )
        )
    return World(session, secrets, snap.id, people)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF value"
    return found.group(1)


def signed_in(app, token: str) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    csrf = csrf_of(client.get("/ui/signin").text)
    answer = client.post("/ui/signin", data={"csrf": csrf, "token": token, "next": "/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    return client

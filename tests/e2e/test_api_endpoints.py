"""``/api/v1/endpoints`` over HTTP: who may read and change endpoints, and how."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from modelward.api import create_app
from modelward.config import Workspace
from modelward.security import audit, tokens
from modelward.security.roles import Role
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, admin, placeholder_version, principal

pytestmark = MLFLOW_WARNINGS

SPEC = {
    "name": "churn",
    "model": "churn@production",
    "request": {"customer_id": "int", "discount": "float"},
    "latency_budget_ms": 50,
}


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        placeholder_version(s, "churn")  # definitions must name a registered model
        yield s


@pytest.fixture
def http(session: Session) -> Iterator[TestClient]:
    with TestClient(create_app(session), raise_server_exceptions=False) as client:
        yield client


def _headers(session: Session, name: str, role: Role) -> dict[str, str]:
    principal(session, name, role)
    _, secret = tokens.issue_token(session, admin(session), name, "test")
    return {"Authorization": f"Bearer {secret}"}


def test_a_developer_creates_and_updates_and_a_viewer_reads(
    session: Session, http: TestClient
) -> None:
    dev = _headers(session, "dana", Role.DEVELOPER)
    viewer = _headers(session, "vic", Role.VIEWER)
    created = http.post("/api/v1/endpoints", json=SPEC, headers=dev)
    assert created.status_code == 201, created.text
    assert created.json()["config_version"] == 1
    changed = http.put(
        "/api/v1/endpoints/churn?expected_version=1",
        json={**SPEC, "latency_budget_ms": 20},
        headers=dev,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["config_version"] == 2
    listed = http.get("/api/v1/endpoints", headers=viewer)
    assert [e["name"] for e in listed.json()] == ["churn"]
    assert http.get("/api/v1/endpoints/churn", headers=viewer).json()["config_version"] == 2
    with session.store.read() as conn:
        actions = [e.action for e in audit.entries(conn, target="endpoint:churn")]
    assert actions == ["endpoint.created", "endpoint.updated"]


def test_refusals_are_problems_naming_the_rule(session: Session, http: TestClient) -> None:
    dev = _headers(session, "dana", Role.DEVELOPER)
    viewer = _headers(session, "vic", Role.VIEWER)
    assert http.post("/api/v1/endpoints", json=SPEC, headers=viewer).status_code == 403
    assert http.post("/api/v1/endpoints", json=SPEC).status_code == 401
    bad = http.post("/api/v1/endpoints", json={**SPEC, "latency_budget_ms": "soon"}, headers=dev)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "latency_budget_ms" in bad.text
    http.post("/api/v1/endpoints", json=SPEC, headers=dev)
    stale = http.put("/api/v1/endpoints/churn?expected_version=7", json=SPEC, headers=dev)
    assert stale.status_code == 409
    renamed = http.put("/api/v1/endpoints/churn", json={**SPEC, "name": "other"}, headers=dev)
    assert renamed.status_code == 422 and "differ" in renamed.text
    assert http.get("/api/v1/endpoints/ghost", headers=viewer).status_code == 404


def test_unknown_models_are_422_and_delete_is_audited(session: Session, http: TestClient) -> None:
    dev = _headers(session, "dana", Role.DEVELOPER)
    viewer = _headers(session, "vic", Role.VIEWER)
    bad = http.post("/api/v1/endpoints", json={**SPEC, "model": "churn@99"}, headers=dev)
    assert bad.status_code == 422 and "model: 'churn@99' cannot be served" in bad.text
    assert http.post("/api/v1/endpoints", json=SPEC, headers=dev).status_code == 201
    assert http.delete("/api/v1/endpoints/churn", headers=viewer).status_code == 403
    stale = http.delete("/api/v1/endpoints/churn?expected_version=3", headers=dev)
    assert stale.status_code == 409
    gone = http.delete("/api/v1/endpoints/churn", headers=dev)
    assert gone.status_code == 200 and gone.json()["name"] == "churn"
    assert http.get("/api/v1/endpoints/churn", headers=viewer).status_code == 404
    assert http.delete("/api/v1/endpoints/churn", headers=dev).status_code == 404
    with session.store.read() as conn:
        actions = [e.action for e in audit.entries(conn, target="endpoint:churn")]
    assert actions == ["endpoint.created", "endpoint.deleted"]

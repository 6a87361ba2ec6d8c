"""``POST /api/v1/labels``: token and role checked, bad rows named, counts as the CLI's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from modelward.api import create_app
from modelward.config import Workspace
from modelward.monitoring import open_workspace_log
from modelward.security import tokens
from modelward.security.roles import Role
from modelward.session import Session
from tests.unit.monitoring.support import logged
from tests.unit.registry.support import admin, principal


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        log = open_workspace_log(s)
        try:
            log.write(logged(3))
        finally:
            log.close()
        yield s


@pytest.fixture
def http(session: Session) -> Iterator[TestClient]:
    with TestClient(create_app(session), raise_server_exceptions=False) as client:
        yield client


def _auth(session: Session, name: str, role: Role) -> dict[str, str]:
    principal(session, name, role)
    _, secret = tokens.issue_token(session, admin(session), name, "test")
    return {"Authorization": f"Bearer {secret}"}


BODY = {
    "endpoint": "churn",
    "labels": [
        {"request_id": "churn-1-1-0", "label": 1},
        {"request_id": "churn-1-1-1", "label": 0, "labelled_at": "2026-02-01T00:00:00Z"},
        {"request_id": "never-logged", "label": 1},
    ],
}


def test_a_developer_sends_labels_and_sending_again_changes_nothing(
    session: Session, http: TestClient
) -> None:
    auth = _auth(session, "labeller", Role.DEVELOPER)
    r = http.post("/api/v1/labels", json=BODY, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 3, "stored": 3, "updated": 0, "duplicates": 0, "unknown": 1}
    again = http.post("/api/v1/labels", json=BODY, headers=auth).json()
    assert (again["stored"], again["duplicates"]) == (0, 3)


def test_labels_need_a_token_and_the_labels_write_permission(
    session: Session, http: TestClient
) -> None:
    assert http.post("/api/v1/labels", json=BODY).status_code == 401
    viewer = _auth(session, "looker", Role.VIEWER)
    r = http.post("/api/v1/labels", json=BODY, headers=viewer)
    assert r.status_code == 403 and "labels:write" in r.json()["detail"]


def test_a_bad_row_is_422_naming_the_field(session: Session, http: TestClient) -> None:
    auth = _auth(session, "labeller", Role.DEVELOPER)
    naive = {
        "endpoint": "churn",
        "labels": [{"request_id": "a", "label": 1, "labelled_at": "2026-02-01T00:00:00"}],
    }
    r = http.post("/api/v1/labels", json=naive, headers=auth)
    assert r.status_code == 422 and "labelled_at" in r.json()["detail"]
    r = http.post(
        "/api/v1/labels", json={"endpoint": "churn", "labels": [{"label": 1}]}, headers=auth
    )
    assert r.status_code == 422
    assert any("request_id" in e["field"] for e in r.json()["errors"])

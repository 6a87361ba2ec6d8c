"""``/api/v1/retraining``: read by a viewer, triggered and switched by an operator only;
a trigger is judged before the answer and its run goes on after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelward.api import Client, create_app
from modelward.config import Workspace
from modelward.errors import NotFound, PermissionDenied
from modelward.security import tokens
from modelward.security.roles import Role
from modelward.session import Session
from tests.unit.registry.support import admin, principal

POLICY = """
[[retraining.policies]]
name = "churn-retrain"
endpoint = "churn"
model = "churn"
pipeline = "no-such-pipeline"
"""


@pytest.fixture
def session(workspace_dir: Path) -> Iterator[Session]:
    (workspace_dir / "modelward.toml").write_text(POLICY)
    with Session(Workspace.open(workspace_dir, environ={"MODELWARD_IDENTITY__USER": "t"})) as s:
        yield s


def _client(session: Session, http: TestClient, name: str, role: Role) -> Client:
    principal(session, name, role)
    _, secret = tokens.issue_token(session, admin(session), name, "test")
    return Client(http=http, token=secret)


def test_an_operator_triggers_and_pauses_a_viewer_only_reads(session: Session) -> None:
    with TestClient(create_app(session), raise_server_exceptions=False) as http:
        viewer = _client(session, http, "vic", Role.VIEWER)
        operator = _client(session, http, "olga", Role.OPERATOR)
        (policy,) = viewer.retrain_policies()
        assert (policy.name, policy.strategies, policy.enabled) == (
            "churn-retrain",
            ["shadow", "canary"],
            True,
        )
        with pytest.raises(PermissionDenied, match="retraining:operate"):
            viewer.retrain_trigger("churn-retrain", "new pricing")
        decided = operator.retrain_trigger("churn-retrain", "new pricing")
        assert (decided.kind, decided.decision, decided.state) == ("manual", "retrain", "running")
        # the run went on after the answer: the workspace defines no pipelines
        ran = viewer.retrain_episode(decided.id)
        assert ran.state == "failed" and "pipelines module not found" in ran.reason
        assert operator.retrain_pause_all("freeze").enabled is False
        assert viewer.retrain_policies()[0].enabled is False
        blocked = operator.retrain_trigger("churn-retrain", "new pricing")
        assert (blocked.decision, blocked.state) == ("block", "blocked")
        assert [e.decision for e in viewer.retrain_episodes("churn-retrain")] == [
            "block",
            "retrain",
        ]
        with pytest.raises(NotFound, match="no retraining policy named 'nope'"):
            operator.retrain_switch("nope", "pause", "x")
        r = http.post(
            "/api/v1/retraining/policies/churn-retrain/explode",
            json={"reason": "x"},
            headers={"Authorization": "Bearer nope"},
        )
        assert r.status_code in (401, 422)

"""The worked promotion example over HTTP with the typed client (docs/promotion-example.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from modelward.api import create_app
from modelward.api.client import Client
from modelward.config import Workspace
from modelward.errors import CheckFailed, NotFound, PermissionDenied
from modelward.registry import lifecycle
from modelward.security import tokens
from modelward.security.roles import Role
from modelward.session import Session
from tests.unit.registry.support import (
    MLFLOW_WARNINGS,
    admin,
    git_commit_all,
    make_snapshot,
    principal,
    quick_version,
)

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    git_commit_all(workspace.root)
    with Session(workspace) as s:
        yield s


@pytest.fixture
def http(session: Session) -> Iterator[TestClient]:
    with TestClient(create_app(session), raise_server_exceptions=False) as client:
        yield client


def _client(session: Session, http: TestClient, name: str, role: Role) -> Client:
    boss = admin(session)
    if name != boss.name:
        principal(session, name, role)
    _, secret = tokens.issue_token(session, boss, name, "test")
    return Client(http=http, token=secret)


def test_promotion_with_gates_and_a_second_persons_approval(
    session: Session, http: TestClient
) -> None:
    train = make_snapshot(session)
    v1 = quick_version(session, "churn", auc=0.80, train=train)  # trained by "tester"
    lifecycle.set_gate_policy(
        session,
        admin(session),
        "churn",
        "Production",
        [
            {"type": "lineage_complete"},
            {"type": "metric_beats_production", "metric": "auc", "delta": 0.01},
        ],
    )
    author = _client(session, http, "tester", Role.ADMIN)  # the local admin trained it
    alice = _client(session, http, "alice", Role.APPROVER)
    dora = _client(session, http, "dora", Role.DEVELOPER)

    assert alice.whoami().role == "approver"
    lineage = dora.lineage("churn", v1.version)
    assert lineage.lineage_complete and lineage.datasets[0]["snapshot_id"] == train.id

    with pytest.raises(CheckFailed, match="approvals: 0 of 1"):
        dora.transition("churn", 1, "Production", reason="beats the baseline")
    with pytest.raises(PermissionDenied, match="author"):
        author.approve("churn", 1, comment="my own work is great")
    alice.approve("churn", 1, comment="lineage and metrics reviewed")
    done = dora.transition("churn", 1, "Production", reason="beats the baseline")
    assert done.to_stage == "Production" and done.approvals[0]["approver"] == "alice"

    v2 = quick_version(session, "churn", auc=0.801, train=train)
    alice.approve("churn", v2.version)
    with pytest.raises(CheckFailed) as info:
        dora.transition("churn", v2.version, "Production", reason="newer")
    [failed] = [g for g in info.value.details["gate_results"] if not g["passed"]]
    assert failed["gate"] == "metric_beats_production"
    assert failed["evidence"]["improvement"] == pytest.approx(0.001)

    with pytest.raises(NotFound):
        dora.transition("nosuchmodel", 1, "Staging", reason="x")
    history = alice.transitions("churn", 1)
    assert [(h.actor, h.to_stage, h.reason) for h in history] == [
        ("dora", "Production", "beats the baseline")
    ]
    promoted = alice.audit(action="model.promote")
    assert [(e.actor, e.target, e.payload["reason"]) for e in promoted] == [
        ("dora", "model:churn@1", "beats the baseline")
    ]
    assert alice.audit_verify().ok is True
    diff = alice.lineage_diff("churn", 1, v2.version)
    assert "metrics.overall.auc" in {c.path for c in diff.changes}
    assert [s.id for s in alice.snapshots()] == [train.id]

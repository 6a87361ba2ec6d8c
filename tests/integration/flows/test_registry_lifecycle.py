"""Stages, gates, approvals and their audit trail, on SQLite and Postgres."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from modelward import registry
from modelward.config import Workspace
from modelward.errors import (
    CheckFailed,
    ConfigError,
    Conflict,
    InputError,
    NotFound,
    PermissionDenied,
)
from modelward.registry import approvals, lifecycle, reports, tracking, versions
from modelward.registry.gates import GateContext, GateResult, register_gate
from modelward.registry.tables import model_versions
from modelward.security import audit
from modelward.security.roles import Principal, Role
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

GATES = [
    {"type": "lineage_complete"},
    {"type": "metric_above", "metric": "auc", "threshold": 0.7},
    {"type": "metric_beats_production", "metric": "auc", "delta": 0.01},
]


@dataclass
class Team:
    session: Session
    admin: Principal
    dev: Principal  # "tester", the author of every version these tests train
    alice: Principal  # approver
    bob: Principal  # approver
    viewer: Principal


@pytest.fixture
def team(workspace: Workspace) -> Iterator[Team]:
    git_commit_all(workspace.root)
    with Session(workspace) as session:
        boss = admin(session)  # "tester" is the local admin too
        yield Team(
            session,
            Principal("root-admin", Role.ADMIN),
            Principal(boss.name, Role.DEVELOPER, identity_id=boss.identity_id),
            principal(session, "alice", Role.APPROVER),
            principal(session, "bob", Role.APPROVER),
            principal(session, "vera", Role.VIEWER),
        )


def _actions(session: Session, target: str) -> list[str]:
    with session.store.read() as conn:
        return [e.action for e in audit.entries(conn, target=target)]


def test_promotion_through_gates_and_a_second_persons_approval(team: Team) -> None:
    s = team.session
    train = make_snapshot(s, "customers")
    v1 = quick_version(s, "churn", auc=0.80, train=train)
    lifecycle.set_gate_policy(s, team.admin, "churn", "Production", GATES)

    lifecycle.transition(s, team.dev, v1.ref, "Staging", reason="candidate")
    with pytest.raises(CheckFailed, match="approvals: 0 of 1"):
        lifecycle.transition(s, team.dev, v1.ref, "Production", reason="ship it")
    with pytest.raises(PermissionDenied, match="author"):
        approvals.approve(s, Principal("tester", Role.APPROVER), v1.ref, "Production")
    approvals.approve(s, team.alice, v1.ref, "Production", "reviewed the lineage")
    done = lifecycle.transition(s, team.dev, v1.ref, "Production", reason="beats baseline")
    assert (done.from_stage, done.to_stage, done.demoted) == ("Staging", "Production", None)
    assert [g["passed"] for g in done.gate_results] == [True, True, True]
    assert done.approvals[0]["approver"] == "alice"
    assert done.mirrored
    client = tracking.client(s.workspace)
    assert int(client.get_model_version_by_alias("churn", "production").version) == 1

    # v2 barely beats v1 on the same data: the delta gate blocks it, fail closed, audited
    v2 = quick_version(s, "churn", auc=0.805, train=train)
    approvals.approve(s, team.bob, v2.ref, "Production")
    with pytest.raises(CheckFailed) as info:
        lifecycle.transition(s, team.dev, v2.ref, "Production", reason="try")
    failed = [g for g in info.value.details["gate_results"] if not g["passed"]]
    assert [g["gate"] for g in failed] == ["metric_beats_production"]
    assert failed[0]["evidence"]["production"] == 0.80
    assert registry.get_version(s, v2.ref).stage == "None"
    assert "model.transition.refused" in _actions(s, f"model:{v2.ref}")

    # an admin override passes it, and the override and its reason are on the record
    with pytest.raises(PermissionDenied):
        lifecycle.transition(s, team.dev, v2.ref, "Production", reason="x", override_reason="y")
    done = lifecycle.transition(
        s,
        team.admin,
        v2.ref,
        "Production",
        reason="hotfix",
        override_reason="incident 42: v1 leaks a feature",
    )
    assert done.demoted == 1 and done.override_reason.startswith("incident 42")
    assert registry.get_version(s, "churn@1").stage == "Archived"
    assert int(client.get_model_version_by_alias("churn", "production").version) == 2

    # a "rollback" that skips the gates can only re-instate the previous Production version
    with pytest.raises(InputError, match="previous Production version"):
        lifecycle.transition(s, team.alice, "churn@2", "Production", reason="x", kind="rollback")
    # rollback re-instates v1 and keeps v2 addressable for the way back
    back = lifecycle.rollback(s, team.alice, "churn", reason="v2 misbehaves")
    assert (back.version, back.kind, back.demoted) == (1, "rollback", 2)
    assert registry.get_version(s, "churn@production").version == 1
    assert int(client.get_model_version_by_alias("churn", "production").version) == 1

    report = reports.lineage_report(s, "churn@2")
    kinds = [(t["from_stage"], t["to_stage"], t["kind"]) for t in report["transitions"]]
    assert kinds == [("None", "Production", "promote"), ("Production", "Archived", "demote")]
    assert report["transitions"][0]["override_reason"].startswith("incident 42")
    with s.store.read() as conn:
        assert audit.verify(conn).ok


def test_roles_decide_who_may_promote_and_approve(team: Team) -> None:
    s = team.session
    v1 = quick_version(s, "churn", auc=0.8, train=make_snapshot(s))
    with pytest.raises(PermissionDenied, match="models:transition"):
        lifecycle.transition(s, team.viewer, v1.ref, "Staging", reason="x")
    with pytest.raises(PermissionDenied, match="models:approve"):
        approvals.approve(s, team.dev, v1.ref, "Production")
    with pytest.raises(PermissionDenied):
        lifecycle.rollback(s, team.dev, "churn", reason="x")
    with pytest.raises(PermissionDenied):
        lifecycle.set_gate_policy(s, team.dev, "churn", "Production", [])
    approvals.approve(s, team.alice, v1.ref, "Production")
    with pytest.raises(Conflict, match="already approved"):
        approvals.approve(s, team.alice, v1.ref, "Production")


def test_incomplete_lineage_never_passes_the_lineage_gate(team: Team) -> None:
    s = team.session
    artifact = s.workspace.root / "bare-model"
    artifact.mkdir()
    bare = versions.register(s, "churn", model_uri=artifact.as_uri())
    assert not bare.lineage_complete and "dataset snapshots" in bare.lineage_missing
    approvals.approve(s, team.alice, bare.ref, "Production")
    with pytest.raises(CheckFailed, match="lineage incomplete: missing dataset snapshots"):
        lifecycle.transition(s, team.dev, bare.ref, "Production", reason="x")


def test_unknown_model_or_version_and_bad_stage(team: Team) -> None:
    s = team.session
    with pytest.raises(NotFound, match="not registered"):
        lifecycle.transition(s, team.dev, "ghost@1", "Staging", reason="x")
    with pytest.raises(NotFound, match="no previous Production"):
        quick_version(s, "churn", auc=0.8, train=make_snapshot(s))
        lifecycle.rollback(s, team.alice, "churn", reason="x")
    with pytest.raises(NotFound):
        lifecycle.transition(s, team.dev, "churn@7", "Staging", reason="x")
    with pytest.raises(InputError, match="stage"):
        lifecycle.transition(s, team.dev, "churn@1", "Prod", reason="x")
    with pytest.raises(ConfigError, match="unknown gate"):
        lifecycle.set_gate_policy(s, team.admin, "churn", "Staging", [{"type": "nope"}])


def test_metric_gate_refuses_a_comparison_on_different_evaluation_data(team: Team) -> None:
    s = team.session
    train = make_snapshot(s, "customers", seed=0)
    other = make_snapshot(s, "holdout", seed=1)
    v1 = quick_version(s, "churn", auc=0.80, train=train)
    lifecycle.set_approval_policy(s, team.admin, "churn", "Production", 0)
    lifecycle.set_gate_policy(s, team.admin, "churn", "Production", GATES)
    lifecycle.transition(s, team.dev, v1.ref, "Production", reason="first")
    v2 = quick_version(s, "churn", auc=0.99, train=train, evaluation=other)
    with pytest.raises(CheckFailed, match="not evaluated on the same data"):
        lifecycle.transition(s, team.dev, v2.ref, "Production", reason="better?")


def test_a_gate_that_crashes_fails_closed(team: Team) -> None:
    class Broken:
        name = "broken"

        def evaluate(self, context: GateContext) -> GateResult:
            raise RuntimeError("metrics service down")

    register_gate("broken", Broken)
    s = team.session
    v1 = quick_version(s, "churn", auc=0.8, train=make_snapshot(s))
    lifecycle.set_gate_policy(s, team.admin, "churn", "Staging", [{"type": "broken"}])
    with pytest.raises(CheckFailed, match="metrics service down"):
        lifecycle.transition(s, team.dev, v1.ref, "Staging", reason="x")


def test_two_racing_transitions_cannot_both_succeed(team: Team) -> None:
    """Both read the same state and pass their gates, then race to write: one wins."""
    s = team.session
    train = make_snapshot(s)
    v1 = quick_version(s, "churn", auc=0.8, train=train)
    v2 = quick_version(s, "churn", auc=0.9, train=train)
    barrier = threading.Barrier(2, timeout=60)

    class Rendezvous:
        name = "rendezvous"

        def evaluate(self, context: GateContext) -> GateResult:
            barrier.wait()  # both transitions have read the model before either writes
            return GateResult(self.name, True, "both racers arrived")

    register_gate("rendezvous", Rendezvous)
    lifecycle.set_approval_policy(s, team.admin, "churn", "Production", 0)
    lifecycle.set_gate_policy(s, team.admin, "churn", "Production", [{"type": "rendezvous"}])
    outcomes: dict[str, object] = {}

    def promote(ref: str) -> None:
        try:
            outcomes[ref] = lifecycle.transition(s, team.dev, ref, "Production", reason="race")
        except Exception as exc:
            outcomes[ref] = exc

    threads = [threading.Thread(target=promote, args=(v.ref,)) for v in (v1, v2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    winners = [r for r, o in outcomes.items() if isinstance(o, lifecycle.Transition)]
    losers = [o for o in outcomes.values() if isinstance(o, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert "another transition won the race" in losers[0].message
    in_production = [
        v for v in registry.list_versions(s, "churn", discover=False) if v.stage == "Production"
    ]
    assert [v.ref for v in in_production] == winners
    assert _actions(s, f"model:{winners[0]}").count("model.promote") == 1


def test_the_database_itself_refuses_a_second_production_version(team: Team) -> None:
    s = team.session
    train = make_snapshot(s)
    quick_version(s, "churn", auc=0.8, train=train)
    quick_version(s, "churn", auc=0.9, train=train)
    with pytest.raises(IntegrityError), s.store.transaction() as conn:
        conn.execute(update(model_versions).values(stage="Production"))
    with s.store.read() as conn:
        stages = set(conn.execute(select(model_versions.c.stage)).scalars())
    assert stages == {"None"}

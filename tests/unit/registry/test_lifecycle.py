"""Stage transitions compared whole: the answer, the model's row, the transition records,
the audit entries and the MLflow aliases each one leaves, and each refusal's message.

A promotion is evidence a reviewer reads later (who moved what, why, against which gates
and approvals), so a dropped field or a wrong ``previous_production_version`` (the rollback
target) is a broken promise even when the version lands in the right stage. The versions
here are registered without training (a placeholder artifact) and the gates are small
in-process ones, so each test costs a few registrations, not a training run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

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
from modelward.registry import approvals, lifecycle, tracking
from modelward.registry.gates import GateContext, GateResult, register_gate
from modelward.registry.gates.base import GATES
from modelward.registry.tables import model_versions, registered_models
from modelward.security import audit
from modelward.security.roles import Principal, Role
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, placeholder_version

pytestmark = MLFLOW_WARNINGS

ADMIN = Principal("root", Role.ADMIN)
DEV = Principal("dev", Role.DEVELOPER)
ALICE = Principal("alice", Role.APPROVER)
BOB = Principal("bob", Role.APPROVER)

#: every context a `verdict` gate saw, in order
SEEN: list[GateContext] = []


@dataclass(frozen=True)
class Verdict:
    """A gate that answers as configured and remembers what it was shown."""

    passed: bool = True
    message: str = "as configured"
    name: str = "verdict"
    evidence: dict[str, Any] = field(default_factory=dict)

    def evaluate(self, context: GateContext) -> GateResult:
        SEEN.append(context)
        return GateResult(self.name, self.passed, self.message, dict(self.evidence))


@pytest.fixture
def s(workspace: Workspace) -> Iterator[Session]:
    """churn@1..3, no gates and no approvals required (each test sets what it checks)."""
    register_gate("verdict", Verdict)
    SEEN.clear()
    with Session(workspace) as session:
        for _ in range(3):
            placeholder_version(session, "churn")
        for stage in ("Staging", "Production"):
            lifecycle.set_gate_policy(session, ADMIN, "churn", stage, [])
        lifecycle.set_approval_policy(session, ADMIN, "churn", "Production", 0)
        yield session
    GATES._registered.pop("verdict", None)


def _model(s: Session, name: str = "churn") -> dict[str, Any]:
    with s.store.read() as conn:
        row = conn.execute(select(registered_models).where(registered_models.c.name == name)).one()
    return dict(row._mapping)


def _pointers(s: Session) -> tuple[int | None, int | None]:
    model = _model(s)
    return model["production_version"], model["previous_production_version"]


def _stages(s: Session) -> list[str]:
    return [v.stage for v in registry.list_versions(s, "churn", discover=False)]


def _entries(s: Session, action: str) -> list[audit.AuditEntry]:
    with s.store.read() as conn:
        return list(audit.entries(conn, action=action))


def _history(s: Session, ref: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in row.items() if k not in ("id", "at")} for row in lifecycle.history(s, ref)
    ]


def _alias(s: Session, alias: str) -> int | None:
    from mlflow.exceptions import MlflowException

    try:
        return int(tracking.client(s.workspace).get_model_version_by_alias("churn", alias).version)
    except MlflowException:
        return None


# --- what a transition writes ---------------------------------------------------------------


def test_a_promotion_answers_records_and_audits_the_same_facts(s: Session) -> None:
    lifecycle.set_gate_policy(
        s, ADMIN, "churn", "Staging", [{"type": "verdict", "evidence": {"k": 1}}]
    )
    approvals.approve(s, ALICE, "churn@1", "Staging", "looked")
    revision = _model(s)["revision"]

    done = lifecycle.transition(s, DEV, "churn@1", "staging", reason="candidate")

    gates = [{"gate": "verdict", "passed": True, "message": "as configured", "evidence": {"k": 1}}]
    (given,) = done.approvals
    assert (given["approver"], given["comment"], given["stage"]) == ("alice", "looked", "Staging")
    assert isinstance(given["at"], str)  # ISO text: the record is JSON
    assert done.to_dict() == {
        "model": "churn",
        "version": 1,
        "from_stage": "None",
        "to_stage": "Staging",
        "kind": "promote",
        "actor": "dev",
        "at": done.at,
        "reason": "candidate",
        "gate_results": gates,
        "approvals": [given],
        "override_reason": None,
        "demoted": None,
        "mirrored": True,
    }
    assert done.at.tzinfo is not None
    assert _history(s, "churn@1") == [
        {
            "model_name": "churn",
            "version": 1,
            "from_stage": "None",
            "to_stage": "Staging",
            "kind": "promote",
            "actor": "dev",
            "reason": "candidate",
            "gate_results": gates,
            "approvals": [given],
            "override_reason": None,
        }
    ]
    (entry,) = _entries(s, "model.promote")
    assert (entry.actor, entry.target) == ("dev", "model:churn@1")
    assert entry.payload == {
        "from": "None",
        "to": "Staging",
        "reason": "candidate",
        "gate_results": gates,
        "approvals": [given],
        "override_reason": None,
        "demoted": None,
    }
    version = registry.get_version(s, "churn@1")
    assert version.stage == "Staging"
    assert version.stage_changed_at is not None
    assert version.stage_changed_at.replace(tzinfo=None) == done.at.replace(tzinfo=None)
    assert registry.get_version(s, "churn@2").stage_changed_at is None  # only the one moved
    assert _model(s)["revision"] == revision + 1
    assert _pointers(s) == (None, None)
    assert _alias(s, "staging") == 1
    with s.store.read() as conn:
        assert audit.verify(conn).ok


def test_a_new_production_version_archives_the_old_one_and_keeps_it_as_rollback_target(
    s: Session,
) -> None:
    first = lifecycle.transition(s, DEV, "churn@1", "Production", reason="first")
    assert (first.from_stage, first.demoted) == ("None", None)
    assert _pointers(s) == (1, None)
    assert _alias(s, "production") == 1

    revision = _model(s)["revision"]
    second = lifecycle.transition(s, DEV, "churn@2", "Production", reason="better")
    assert (second.version, second.demoted) == (2, 1)
    assert _stages(s) == ["Archived", "Production", "None"]
    assert _pointers(s) == (2, 1)
    assert _model(s)["revision"] == revision + 1  # both moves are one write of the model
    # the archived version tells when it left Production: the moment the new one entered
    left = registry.get_version(s, "churn@1").stage_changed_at
    assert left is not None
    assert left.replace(tzinfo=None) == second.at.replace(tzinfo=None)
    assert _alias(s, "production") == 2
    assert _history(s, "churn@1")[-1] == {
        "model_name": "churn",
        "version": 1,
        "from_stage": "Production",
        "to_stage": "Archived",
        "kind": "demote",
        "actor": "dev",
        "reason": "replaced by version 2",
        "gate_results": [],
        "approvals": [],
        "override_reason": None,
    }
    demote_at = lifecycle.history(s, "churn@1")[-1]["at"]
    assert demote_at == lifecycle.history(s, "churn@2")[-1]["at"]  # one transaction, one time
    assert [e.payload["demoted"] for e in _entries(s, "model.promote")] == [None, 1]


def test_rollback_flips_between_the_last_two_production_versions(s: Session) -> None:
    lifecycle.transition(s, DEV, "churn@1", "Production", reason="first")
    lifecycle.transition(s, DEV, "churn@2", "Production", reason="second")
    # gates and approvals that would refuse a promotion do not apply to a rollback
    lifecycle.set_gate_policy(
        s, ADMIN, "churn", "Production", [{"type": "verdict", "passed": False}]
    )
    lifecycle.set_approval_policy(s, ADMIN, "churn", "Production", 3)

    back = lifecycle.rollback(s, ALICE, "churn", reason="v2 misbehaves")
    assert back.to_dict() | {"at": None} == {
        "model": "churn",
        "version": 1,
        "from_stage": "Archived",
        "to_stage": "Production",
        "kind": "rollback",
        "actor": "alice",
        "at": None,
        "reason": "v2 misbehaves",
        "gate_results": [],
        "approvals": [],
        "override_reason": None,
        "demoted": 2,
        "mirrored": True,
    }
    assert SEEN == []  # no gate was asked
    assert _pointers(s) == (1, 2)  # the way back is kept
    assert _stages(s) == ["Production", "Archived", "None"]
    (entry,) = _entries(s, "model.rollback")
    assert (entry.actor, entry.target, entry.payload["demoted"]) == ("alice", "model:churn@1", 2)
    assert _history(s, "churn@1")[-1]["kind"] == "rollback"

    again = lifecycle.rollback(s, ALICE, "churn", reason="v1 was worse")
    assert (again.version, again.demoted) == (2, 1)
    assert _pointers(s) == (2, 1)


def test_archiving_the_production_version_empties_production_and_keeps_it_for_rollback(
    s: Session,
) -> None:
    lifecycle.transition(s, DEV, "churn@1", "Production", reason="first")
    revision = _model(s)["revision"]
    done = lifecycle.transition(s, DEV, "churn@1", "Archived", reason="retired")
    assert (done.from_stage, done.to_stage, done.demoted) == ("Production", "Archived", None)
    assert _pointers(s) == (None, 1)
    # emptying Production is a change of the model too: a transition that read it before
    # must lose the race, so the revision moves
    assert _model(s)["revision"] == revision + 1
    assert _alias(s, "production") is None  # the alias is deleted, not left pointing at v1

    back = lifecycle.rollback(s, ALICE, "churn", reason="nothing else is ready")
    assert (back.version, back.demoted) == (1, None)
    assert _pointers(s) == (1, None)  # nothing was replaced: no way back to record
    assert _model(s)["revision"] == revision + 2


def test_a_promotion_after_production_was_emptied_keeps_the_archived_version_to_roll_back_to(
    s: Session,
) -> None:
    lifecycle.transition(s, DEV, "churn@1", "Production", reason="first")
    lifecycle.transition(s, DEV, "churn@1", "Archived", reason="retired")
    done = lifecycle.transition(s, DEV, "churn@2", "Production", reason="its replacement")
    assert done.demoted is None  # nothing was in Production to archive
    assert _pointers(s) == (2, 1)  # v1 is still the way back
    back = lifecycle.rollback(s, ALICE, "churn", reason="v2 misbehaves")
    assert (back.version, back.demoted) == (1, 2)
    assert _pointers(s) == (1, 2)


def test_a_version_leaving_staging_loses_the_staging_alias_to_the_highest_one_left(
    s: Session,
) -> None:
    lifecycle.transition(s, DEV, "churn@1", "Staging", reason="a")
    lifecycle.transition(s, DEV, "churn@3", "Staging", reason="b")
    lifecycle.transition(s, DEV, "churn@2", "Staging", reason="c")
    assert _alias(s, "staging") == 3
    lifecycle.transition(s, DEV, "churn@3", "none", reason="withdrawn")
    assert registry.get_version(s, "churn@3").stage == "None"
    assert _alias(s, "staging") == 2
    for ref in ("churn@1", "churn@2"):
        lifecycle.transition(s, DEV, ref, "Archived", reason="old")
    assert _alias(s, "staging") is None


def test_history_lists_a_versions_transitions_in_order_and_only_its_own(s: Session) -> None:
    for stage in ("Staging", "Production", "Archived"):
        lifecycle.transition(s, DEV, "churn@1", stage, reason=f"to {stage}")
    lifecycle.transition(s, DEV, "churn@2", "Staging", reason="other")
    placeholder_version(s, "fraud")  # fraud@1: the same number, another model
    lifecycle.set_gate_policy(s, ADMIN, "fraud", "Staging", [])
    lifecycle.transition(s, DEV, "fraud@1", "Staging", reason="another model")
    rows = lifecycle.history(s, "churn@1")
    assert [(r["from_stage"], r["to_stage"], r["reason"]) for r in rows] == [
        ("None", "Staging", "to Staging"),
        ("Staging", "Production", "to Production"),
        ("Production", "Archived", "to Archived"),
    ]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert lifecycle.history(s, "churn@3") == []


def test_mirroring_that_mlflow_refuses_is_reported_not_raised(
    s: Session, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow.exceptions import MlflowException

    class Refusing:
        def set_registered_model_alias(self, *args: object) -> None:
            raise MlflowException("registry is read-only")

        def delete_registered_model_alias(self, *args: object) -> None:
            raise MlflowException("registry is read-only")

    monkeypatch.setattr(tracking, "client", lambda workspace: Refusing())
    with caplog.at_level(logging.WARNING, logger="modelward.registry.lifecycle"):
        done = lifecycle.transition(s, DEV, "churn@1", "Staging", reason="x")
    assert done.mirrored is False
    assert registry.get_version(s, "churn@1").stage == "Staging"  # the transition stands
    assert [r.getMessage() for r in caplog.records] == [
        "could not mirror stages of churn as MLflow aliases: registry is read-only"
    ]


def test_a_missing_alias_to_delete_is_not_a_failure(s: Session) -> None:
    assert lifecycle.mirror_aliases(s, "churn") is True
    assert (_alias(s, "staging"), _alias(s, "production")) == (None, None)


# --- what a gate is shown --------------------------------------------------------------------


def test_gates_see_the_candidate_the_production_version_the_stage_and_who_asks(
    s: Session,
) -> None:
    lifecycle.transition(s, DEV, "churn@1", "Production", reason="first")
    lifecycle.set_gate_policy(s, ADMIN, "churn", "Production", [{"type": "verdict"}])
    lifecycle.set_gate_policy(s, ADMIN, "churn", "Staging", [{"type": "verdict"}])
    lifecycle.transition(s, DEV, "churn@2", "Production", reason="second")
    (ctx,) = SEEN
    assert (ctx.candidate.ref, ctx.production and ctx.production.ref) == ("churn@2", "churn@1")
    assert (ctx.target_stage, ctx.session, ctx.principal) == ("Production", s, DEV)
    # the Production version itself moving back to Staging has no other Production to beat
    lifecycle.transition(s, DEV, "churn@2", "Staging", reason="back to testing")
    assert (SEEN[-1].candidate.ref, SEEN[-1].production) == ("churn@2", None)
    assert SEEN[-1].target_stage == "Staging"


def test_no_gate_runs_for_archived_or_none(s: Session) -> None:
    lifecycle.set_gate_policy(s, ADMIN, "churn", "Staging", [{"type": "verdict", "passed": False}])
    lifecycle.set_approval_policy(s, ADMIN, "churn", "Staging", 2)
    done = lifecycle.transition(s, DEV, "churn@1", "Archived", reason="never used")
    assert (done.gate_results, SEEN) == ([], [])


# --- refusals ---------------------------------------------------------------------------------


def test_failing_gates_and_missing_approvals_are_refused_together_and_audited(
    s: Session,
) -> None:
    lifecycle.set_gate_policy(
        s,
        ADMIN,
        "churn",
        "Staging",
        [
            {"type": "verdict", "passed": False, "message": "too slow", "name": "latency"},
            {"type": "verdict", "name": "fine"},
            {"type": "verdict", "passed": False, "message": "too big", "name": "size"},
        ],
    )
    lifecycle.set_approval_policy(s, ADMIN, "churn", "Staging", 2)
    approvals.approve(s, ALICE, "churn@1", "Staging")
    revision = _model(s)["revision"]

    with pytest.raises(CheckFailed) as info:
        lifecycle.transition(s, DEV, "churn@1", "Staging", reason="try")
    assert str(info.value) == (
        "churn@1 may not enter Staging: failing gates: latency: too slow; size: too big"
        " | approvals: 1 of 2 required for Staging"
    )
    gates = [
        {"gate": "latency", "passed": False, "message": "too slow", "evidence": {}},
        {"gate": "fine", "passed": True, "message": "as configured", "evidence": {}},
        {"gate": "size", "passed": False, "message": "too big", "evidence": {}},
    ]
    details = info.value.details
    assert (details["gate_results"], details["model"], details["version"]) == (gates, "churn", 1)
    assert [a["approver"] for a in details["approvals"]] == ["alice"]
    (entry,) = _entries(s, "model.transition.refused")
    assert (entry.actor, entry.target) == ("dev", "model:churn@1")
    assert entry.payload == {
        "to": "Staging",
        "problems": [
            "failing gates: latency: too slow; size: too big",
            "approvals: 1 of 2 required for Staging",
        ],
        "gate_results": gates,
        "approvals": details["approvals"],
    }
    # nothing moved
    assert _stages(s) == ["None", "None", "None"]
    assert (_model(s)["revision"], lifecycle.history(s, "churn@1")) == (revision, [])
    assert _entries(s, "model.promote") == []


def test_exactly_the_required_number_of_approvals_is_enough(s: Session) -> None:
    lifecycle.set_approval_policy(s, ADMIN, "churn", "Production", 2)
    approvals.approve(s, ALICE, "churn@1", "Production")
    with pytest.raises(CheckFailed) as info:
        lifecycle.transition(s, DEV, "churn@1", "Production", reason="ship")
    assert str(info.value) == (
        "churn@1 may not enter Production: approvals: 1 of 2 required for Production"
    )
    approvals.approve(s, BOB, "churn@1", "Production")
    assert lifecycle.transition(s, DEV, "churn@1", "Production", reason="ship").demoted is None


def test_the_default_policy_needs_one_approval_for_production_and_none_for_staging(
    s: Session,
) -> None:
    with s.store.transaction() as conn:  # back to what registering a model sets
        conn.execute(
            registered_models.update()
            .where(registered_models.c.name == "churn")
            .values(approval_policy={"Staging": 0, "Production": 1}, gate_policy={})
        )
    assert lifecycle.transition(s, DEV, "churn@1", "Staging", reason="x").to_stage == "Staging"
    with pytest.raises(CheckFailed, match=r"approvals: 0 of 1 required for Production$"):
        lifecycle.transition(s, DEV, "churn@1", "Production", reason="x")
    with s.store.transaction() as conn:  # a policy that never named the stage needs none
        conn.execute(
            registered_models.update()
            .where(registered_models.c.name == "churn")
            .values(approval_policy={})
        )
    assert lifecycle.transition(s, DEV, "churn@1", "Production", reason="x").to_stage == (
        "Production"
    )


def test_an_override_passes_failing_gates_on_the_record_but_never_missing_approvals(
    s: Session,
) -> None:
    lifecycle.set_gate_policy(
        s, ADMIN, "churn", "Production", [{"type": "verdict", "passed": False}]
    )
    lifecycle.set_approval_policy(s, ADMIN, "churn", "Production", 1)
    with pytest.raises(CheckFailed) as info:
        lifecycle.transition(
            s, ADMIN, "churn@1", "Production", reason="hotfix", override_reason="incident 42"
        )
    assert str(info.value) == (
        "churn@1 may not enter Production: approvals: 0 of 1 required for Production"
    )
    approvals.approve(s, ALICE, "churn@1", "Production")
    done = lifecycle.transition(
        s, ADMIN, "churn@1", "Production", reason="hotfix", override_reason="incident 42"
    )
    assert (done.override_reason, done.actor) == ("incident 42", "root")
    assert [g["passed"] for g in done.gate_results] == [False]  # the failure stays on record
    assert _history(s, "churn@1")[-1]["override_reason"] == "incident 42"
    (entry,) = _entries(s, "model.promote")
    assert entry.payload["override_reason"] == "incident 42"
    assert entry.payload["gate_results"] == done.gate_results


def test_a_transition_needs_a_reason_and_an_override_one_of_its_own(s: Session) -> None:
    # one test with its examples in turn: each would otherwise register versions again
    for reason in ("", "   ", "\n"):
        with pytest.raises(InputError) as info:
            lifecycle.transition(s, DEV, "churn@1", "Staging", reason=reason)
        assert str(info.value) == "reason: say why this transition is made"
        assert info.value.details == {"field": "reason"}
    for override in ("", "  "):
        with pytest.raises(InputError) as info:
            lifecycle.transition(
                s, ADMIN, "churn@1", "Staging", reason="x", override_reason=override
            )
        assert str(info.value) == "override_reason: an override needs a reason"
        assert info.value.details == {"field": "override_reason"}
    assert _stages(s)[0] == "None"


def test_only_an_admin_may_override_and_only_a_rollback_role_may_roll_back(s: Session) -> None:
    with pytest.raises(PermissionDenied) as info:
        lifecycle.transition(s, DEV, "churn@1", "Staging", reason="x", override_reason="y")
    assert info.value.details["permission"] == "models:override"
    with pytest.raises(PermissionDenied) as info:
        lifecycle.transition(s, DEV, "churn@1", "Production", reason="x", kind="rollback")
    assert info.value.details["permission"] == "models:rollback"
    with pytest.raises(PermissionDenied) as info:
        lifecycle.rollback(s, DEV, "churn", reason="x")
    assert info.value.details["permission"] == "models:rollback"
    with pytest.raises(PermissionDenied) as info:
        lifecycle.transition(s, Principal("vera", Role.VIEWER), "churn@1", "Staging", reason="x")
    assert info.value.details["permission"] == "models:transition"
    assert _stages(s) == ["None", "None", "None"]


def test_an_unknown_stage_is_refused_naming_the_stages_and_case_does_not_matter(
    s: Session,
) -> None:
    for value, shown in (("Prod", "'Prod'"), ("x" * 50, repr("x" * 40)), ("", "''")):
        with pytest.raises(InputError) as info:
            lifecycle.transition(s, DEV, "churn@1", value, reason="x")
        assert str(info.value) == (
            f"stage: {shown} is not a stage; use one of None, Staging, Production, Archived"
        )
        assert info.value.details == {"field": "stage"}
    for given, stage in (("staging", "Staging"), ("NONE", "None"), ("aRCHIVED", "Archived")):
        assert lifecycle.transition(s, DEV, "churn@1", given, reason="x").to_stage == stage


def test_a_version_already_in_the_stage_is_a_conflict(s: Session) -> None:
    lifecycle.transition(s, DEV, "churn@1", "Staging", reason="x")
    with pytest.raises(Conflict) as info:
        lifecycle.transition(s, DEV, "churn@1", "Staging", reason="again")
    assert str(info.value) == "churn@1 is already in Staging"
    assert info.value.details == {"model": "churn", "version": 1}
    assert len(lifecycle.history(s, "churn@1")) == 1


def test_a_rollback_only_reinstates_the_previous_production_version(s: Session) -> None:
    lifecycle.transition(s, DEV, "churn@1", "Production", reason="first")
    lifecycle.transition(s, DEV, "churn@2", "Production", reason="second")
    for ref, stage in (("churn@3", "Production"), ("churn@1", "Staging")):
        with pytest.raises(InputError) as info:
            lifecycle.transition(s, ALICE, ref, stage, reason="x", kind="rollback")
        assert str(info.value) == (
            f"a rollback re-instates churn@1 (the previous Production version), not {ref}"
        )
        assert info.value.details == {"field": "ref"}
    assert _pointers(s) == (2, 1)


def test_a_rollback_with_nothing_to_go_back_to_is_refused(s: Session) -> None:
    lifecycle.transition(s, DEV, "churn@1", "Production", reason="first")
    with pytest.raises(NotFound) as info:
        lifecycle.rollback(s, ALICE, "churn", reason="x")
    assert str(info.value) == "model 'churn' has no previous Production version to roll back to"
    assert info.value.details == {"model": "churn"}
    with pytest.raises(NotFound):
        lifecycle.rollback(s, ALICE, "ghost", reason="x")


def test_a_transition_that_loses_the_race_writes_nothing(s: Session) -> None:
    @dataclass(frozen=True)
    class Meddler:
        """Another writer changes the model between the read and the write."""

        name: str = "meddler"

        def evaluate(self, context: GateContext) -> GateResult:
            lifecycle.set_approval_policy(s, ADMIN, "churn", "Staging", 0)
            return GateResult(self.name, True, "ok")

    register_gate("meddler", Meddler)
    try:
        lifecycle.set_gate_policy(s, ADMIN, "churn", "Staging", [{"type": "meddler"}])
        before = _model(s)["revision"]
        with pytest.raises(Conflict) as info:
            lifecycle.transition(s, DEV, "churn@1", "Staging", reason="x")
    finally:
        GATES._registered.pop("meddler", None)
    assert str(info.value) == (
        "model 'churn' changed while this transition was evaluated (another transition won "
        "the race); nothing was written, look again and retry"
    )
    assert info.value.details == {"model": "churn", "version": 1}
    assert _model(s)["revision"] == before + 1  # the meddler's write only
    assert (_stages(s)[0], lifecycle.history(s, "churn@1")) == ("None", [])
    assert _entries(s, "model.promote") == []


# --- policies --------------------------------------------------------------------------------


def test_an_approval_policy_takes_0_to_10_and_is_audited(s: Session) -> None:
    for required in (0, 10):
        revision = _model(s)["revision"]
        policy = lifecycle.set_approval_policy(s, ADMIN, "churn", "staging", required)
        assert policy == {"Staging": required, "Production": 0}
        assert _model(s)["approval_policy"] == policy
        assert _model(s)["revision"] == revision + 1
        entry = _entries(s, "model.approval_policy.set")[-1]
        assert (entry.actor, entry.target) == ("root", "model:churn")
        assert entry.payload == {"stage": "Staging", "required": required}
    for required in (-1, 11):
        with pytest.raises(InputError) as info:
            lifecycle.set_approval_policy(s, ADMIN, "churn", "Staging", required)
        assert str(info.value) == "required: must be between 0 and 10"
        assert info.value.details == {"field": "required"}
    assert _model(s)["approval_policy"] == {"Staging": 10, "Production": 0}


def test_policies_are_for_staging_and_production_only(s: Session) -> None:
    for stage in ("Archived", "None"):
        with pytest.raises(InputError) as info:
            lifecycle.set_approval_policy(s, ADMIN, "churn", stage, 1)
        assert str(info.value) == "stage: approval policies are for Staging and Production"
        assert info.value.details == {"field": "stage"}
        with pytest.raises(InputError) as info:
            lifecycle.set_gate_policy(s, ADMIN, "churn", stage, [])
        assert str(info.value) == "stage: gate policies are for Staging and Production"
        assert info.value.details == {"field": "stage"}


def test_a_gate_policy_is_stored_per_stage_and_audited(s: Session) -> None:
    revision = _model(s)["revision"]
    gates = [{"type": "verdict"}, {"type": "lineage_complete"}]
    policy = lifecycle.set_gate_policy(s, ADMIN, "churn", "production", gates)
    assert policy == {"Staging": [], "Production": gates}
    assert _model(s)["gate_policy"] == policy
    assert _model(s)["revision"] == revision + 1
    entry = _entries(s, "model.gate_policy.set")[-1]
    assert (entry.actor, entry.target) == ("root", "model:churn")
    assert entry.payload == {"stage": "Production", "gates": gates}


def test_a_broken_gate_policy_is_refused_before_anything_is_written(s: Session) -> None:
    from modelward.errors import ConfigError

    before = _model(s)
    with pytest.raises(
        ConfigError, match=r"^gate_policy\.Production\[0\]\.type: unknown gate 'nope'"
    ):
        lifecycle.set_gate_policy(s, ADMIN, "churn", "Production", [{"type": "nope"}])
    assert _model(s) == before
    assert len(_entries(s, "model.gate_policy.set")) == 2  # the fixture's two


def test_policies_need_an_admin_and_a_registered_model(s: Session) -> None:
    for call in (
        lambda p, m: lifecycle.set_approval_policy(s, p, m, "Staging", 1),
        lambda p, m: lifecycle.set_gate_policy(s, p, m, "Staging", []),
    ):
        with pytest.raises(PermissionDenied) as denied:
            call(DEV, "churn")
        assert denied.value.details["permission"] == "identities:admin"
        with pytest.raises(NotFound, match="model 'ghost' is not registered"):
            call(ADMIN, "ghost")


def test_a_write_the_database_refuses_is_a_conflict_and_leaves_nothing_half_written(
    s: Session,
) -> None:
    # a writer outside modelward put churn@1 in Production behind the model row's back:
    # the one-Production index refuses churn@2's write inside the transaction
    with s.store.transaction() as conn:
        conn.execute(
            model_versions.update()
            .where(model_versions.c.model_name == "churn", model_versions.c.version == 1)
            .values(stage="Production")
        )
    before = _model(s)
    with pytest.raises(Conflict) as info:
        lifecycle.transition(s, DEV, "churn@2", "Production", reason="x")
    assert str(info.value) == ("model 'churn' changed while this transition was evaluated; retry")
    assert info.value.details == {"model": "churn"}
    assert _model(s) == before  # the revision bump was rolled back with the rest
    assert (_stages(s), lifecycle.history(s, "churn@2")) == (["Production", "None", "None"], [])
    assert _entries(s, "model.promote") == []


def test_another_models_version_of_the_same_number_is_never_touched(s: Session) -> None:
    placeholder_version(s, "fraud")  # fraud@1 beside churn@1
    lifecycle.set_gate_policy(s, ADMIN, "fraud", "Staging", [])
    lifecycle.transition(s, DEV, "fraud@1", "Staging", reason="fraud's own")
    # fraud's row at churn's revision: churn's write must still pick its own row by name
    while _model(s, "fraud")["revision"] < _model(s)["revision"]:
        lifecycle.set_approval_policy(s, ADMIN, "fraud", "Production", 0)
    fraud = _model(s, "fraud")
    assert fraud["revision"] == _model(s)["revision"]
    lifecycle.transition(s, DEV, "churn@1", "Production", reason="churn's")
    assert _model(s, "fraud") == fraud
    assert registry.get_version(s, "fraud@1").stage == "Staging"
    assert registry.get_version(s, "churn@1").stage == "Production"
    # churn has nothing in Staging: its alias must not follow fraud's Staging version
    assert (_alias(s, "staging"), _alias(s, "production")) == (None, 1)
    assert lifecycle.mirror_aliases(s, "churn") is True
    assert _alias(s, "staging") is None


def test_a_stored_gate_that_can_no_longer_be_built_is_named_by_its_policy_place(
    s: Session,
) -> None:
    # the policy was valid when set; the package that provided the gate is gone since
    lifecycle.set_gate_policy(s, ADMIN, "churn", "Staging", [{"type": "verdict"}])
    GATES._registered.pop("verdict", None)
    with pytest.raises(ConfigError) as info:
        lifecycle.transition(s, DEV, "churn@1", "Staging", reason="x")
    assert str(info.value).startswith("gate_policy.Staging[0].type: unknown gate 'verdict'")
    assert _stages(s)[0] == "None"

"""Who counts as an author, and why an author's approval never counts.

The trainer of a version (its lineage's author) and the person who registered it
(``created_by``) are both its authors. The tests make them different people, so a rule
that looks at only one of the two is caught; and an author's approval that is already in
the table (recorded before the rule, or written by hand) must not count toward a promotion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from modelward import registry
from modelward.config import Workspace
from modelward.data import api as data
from modelward.errors import CheckFailed, Conflict, InputError, PermissionDenied
from modelward.registry import approvals, lifecycle, runs, versions
from modelward.registry.tables import approvals as approvals_table
from modelward.security import audit
from modelward.security.roles import Principal, Role
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, git_commit_all, make_snapshot

pytestmark = MLFLOW_WARNINGS

DEV = Principal("dev", Role.DEVELOPER)


@dataclass
class Made:
    registrar: Session
    version: versions.ModelVersion


def _open(root: Path, env: dict[str, str], user: str) -> Session:
    return Session(Workspace.open(root, environ={**env, "MODELWARD_IDENTITY__USER": user}))


@pytest.fixture
def made(workspace_dir: Path, workspace_env: dict[str, str]) -> Iterator[Made]:
    """churn@1, trained by ``trainer`` and registered by ``registrar``."""
    git_commit_all(workspace_dir)
    trainer = _open(workspace_dir, workspace_env, "trainer")
    registrar = _open(workspace_dir, workspace_env, "registrar")
    try:
        train = make_snapshot(trainer, "customers")
        with runs.run("train", split="random 80/20", seed=7, session=trainer) as run:
            data.read(train.ref, session=trainer)
            run.log_params({"max_depth": 3})
            run.log_metrics({"auc": 0.8}, dataset=train.ref)
        artifact = workspace_dir / "artifacts" / run.run_id
        artifact.mkdir(parents=True)
        version = versions.register(registrar, "churn", run, model_uri=artifact.as_uri())
        yield Made(registrar, version)
    finally:
        trainer.close()
        registrar.close()


def test_trainer_and_registrar_are_both_authors(made: Made) -> None:
    v = made.version
    assert (v.created_by, v.lineage["author"]) == ("registrar", "trainer")
    assert approvals.authors_of(v) == {"trainer", "registrar"}
    assert v.lineage_complete, v.lineage_missing


@pytest.mark.parametrize("author", ["trainer", "registrar"])
def test_no_author_may_approve(made: Made, author: str) -> None:
    with pytest.raises(PermissionDenied, match="author") as info:
        approvals.approve(made.registrar, Principal(author, Role.APPROVER), "churn@1", "Production")
    assert info.value.details["rule"] == "author-cannot-approve"
    with made.registrar.store.read() as conn:
        assert approvals.approvals_for(conn, "churn", 1, "Production") == []
        assert not list(audit.entries(conn, action="model.approved"))


def test_an_authors_approval_in_the_table_is_not_counted(made: Made) -> None:
    s = made.registrar
    with s.store.transaction() as conn:
        conn.execute(
            insert(approvals_table).values(
                model_name="churn",
                version=1,
                stage="Production",
                approver="trainer",
                at=datetime.now(UTC),
                comment="written before the rule existed",
            )
        )
    with pytest.raises(CheckFailed, match="approvals: 0 of 1 required for Production"):
        lifecycle.transition(s, DEV, "churn@1", "Production", reason="ship")
    assert registry.get_version(s, "churn@1").stage == "None"

    approvals.approve(s, Principal("alice", Role.APPROVER), "churn@1", "Production", "ok")
    done = lifecycle.transition(s, DEV, "churn@1", "Production", reason="ship")
    assert done.to_stage == "Production"
    # the evidence lists every approval on record; only alice's counted
    assert sorted(a["approver"] for a in done.approvals) == ["alice", "trainer"]


def test_two_approvers_are_two_approvals_and_one_approver_twice_is_refused(made: Made) -> None:
    s = made.registrar
    admin = Principal("root", Role.ADMIN)
    lifecycle.set_approval_policy(s, admin, "churn", "Production", 2)
    approvals.approve(s, Principal("alice", Role.APPROVER), "churn@1", "Production")
    with pytest.raises(Conflict, match="already approved"):
        approvals.approve(s, Principal("alice", Role.APPROVER), "churn@1", "Production")
    with pytest.raises(CheckFailed, match="approvals: 1 of 2"):
        lifecycle.transition(s, DEV, "churn@1", "Production", reason="ship")
    approvals.approve(s, Principal("bob", Role.APPROVER), "churn@1", "Production")
    assert lifecycle.transition(s, DEV, "churn@1", "Production", reason="ship").approvals


def test_approvals_are_per_stage(made: Made) -> None:
    s = made.registrar
    approvals.approve(s, Principal("alice", Role.APPROVER), "churn@1", "Staging")
    with pytest.raises(CheckFailed, match="approvals: 0 of 1"):
        lifecycle.transition(s, DEV, "churn@1", "Production", reason="ship")
    with pytest.raises(InputError, match="stage"):
        approvals.approve(s, Principal("alice", Role.APPROVER), "churn@1", "Archived")


def test_an_approval_is_recorded_with_its_audit_entry_and_a_comment_kept_to_2000(
    made: Made,
) -> None:
    s = made.registrar
    comment = "c" * 2000 + "cut here"
    got = approvals.approve(s, Principal("alice", Role.APPROVER), "churn@1", "Staging", comment)
    kept = "c" * 2000  # exactly the limit: 2000 characters stay, the 2001st goes
    assert (got.model_name, got.version, got.stage, got.approver, got.comment) == (
        "churn",
        1,
        "Staging",
        "alice",
        kept,
    )
    with s.store.read() as conn:
        stored = approvals.approvals_for(conn, "churn", 1, "Staging")
        assert approvals.approvals_for(conn, "churn", 1, "Production") == []
        assert approvals.approvals_for(conn, "churn", 2, "Staging") == []
        assert approvals.approvals_for(conn, "other", 1, "Staging") == []
        (entry,) = audit.entries(conn, action="model.approved")
    assert [(a.model_name, a.version, a.stage, a.approver, a.comment) for a in stored] == [
        ("churn", 1, "Staging", "alice", kept)
    ]
    assert stored[0].at.replace(tzinfo=UTC) == got.at.replace(tzinfo=UTC)
    assert (entry.actor, entry.target) == ("alice", "model:churn@1")
    assert entry.payload == {"stage": "Staging", "comment": kept}
    assert got.to_dict() == {
        "model": "churn",
        "version": 1,
        "stage": "Staging",
        "approver": "alice",
        "at": got.at,
        "comment": kept,
    }


def test_approvals_are_listed_in_the_order_they_were_given(made: Made) -> None:
    s = made.registrar
    for name in ("zoe", "alice", "mia"):
        approvals.approve(s, Principal(name, Role.APPROVER), "churn@1", "Production")
    with s.store.read() as conn:
        listed = approvals.approvals_for(conn, "churn", 1, "Production")
    assert [a.approver for a in listed] == ["zoe", "alice", "mia"]
    assert {a.comment for a in listed} == {""}  # no comment given: an empty one, not a default text


def test_refusals_say_which_rule_and_name_the_thing(made: Made) -> None:
    s = made.registrar
    with pytest.raises(InputError) as bad_stage:
        approvals.approve(s, Principal("alice", Role.APPROVER), "churn@1", "Archived")
    assert str(bad_stage.value) == "stage: approvals are for Staging or Production, not 'Archived'"
    assert bad_stage.value.details == {"field": "stage"}

    with pytest.raises(PermissionDenied) as author:
        approvals.approve(s, Principal("trainer", Role.APPROVER), "churn@1", "Staging")
    assert str(author.value) == (
        "trainer is an author of churn@1 and can never approve it; another approver must"
    )

    with pytest.raises(PermissionDenied):  # a developer lacks models.approve
        approvals.approve(s, DEV, "churn@1", "Staging")

    approvals.approve(s, Principal("alice", Role.APPROVER), "churn@1", "Staging")
    with pytest.raises(Conflict) as twice:
        approvals.approve(s, Principal("alice", Role.APPROVER), "churn@1", "Staging")
    assert str(twice.value) == "alice has already approved churn@1 for Staging"
    assert twice.value.details == {"model": "churn", "version": 1}
    with s.store.read() as conn:  # the refused second approval left no audit entry
        assert len(list(audit.entries(conn, action="model.approved"))) == 1


def test_an_empty_registrar_or_lineage_author_is_nobody(made: Made) -> None:
    v = made.version
    lineage = {**v.lineage, "author": None}
    nobody = dataclasses.replace(v, created_by="", lineage=lineage)
    assert approvals.authors_of(nobody) == set()

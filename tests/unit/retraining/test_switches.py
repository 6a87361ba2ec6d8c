"""Kill switches: one policy or every policy paused and resumed by an operator, with a
reason that is required and audited, the latest setting of a scope the one kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.errors import InputError, PermissionDenied
from modelward.retraining.switches import EVERY_POLICY, set_switch, switch_states
from modelward.security import entries
from modelward.security.roles import Principal, Role
from modelward.session import Session

OPERATOR = Principal("ops", Role.OPERATOR)


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


def test_a_pause_then_a_resume_keeps_only_the_latest_and_audits_both(session: Session) -> None:
    set_switch(session, OPERATOR, "churn-retrain", enabled=False, reason="bad labels this week")
    paused = switch_states(session)["churn-retrain"]
    assert (paused["enabled"], paused["reason"], paused["changed_by"]) == (
        False,
        "bad labels this week",
        "ops",
    )
    set_switch(session, OPERATOR, "churn-retrain", enabled=True, reason="labels fixed")
    assert list(switch_states(session)) == ["churn-retrain"]
    assert switch_states(session)["churn-retrain"]["enabled"] is True
    with session.store.read() as conn:
        audited = [(e.action, e.payload["reason"]) for e in entries(conn, target="retraining:*")]
    assert audited == [
        ("retraining.paused", "bad labels this week"),
        ("retraining.resumed", "labels fixed"),
    ]


def test_every_policy_has_its_own_scope(session: Session) -> None:
    set_switch(session, OPERATOR, EVERY_POLICY, enabled=False, reason="incident 42")
    set_switch(session, OPERATOR, "fraud", enabled=True, reason="not affected")
    states = switch_states(session)
    assert (states["*"]["enabled"], states["fraud"]["enabled"]) == (False, True)


def test_a_blank_reason_is_refused_and_nothing_changes(session: Session) -> None:
    with pytest.raises(InputError, match="reason: say why the switch changes") as info:
        set_switch(session, OPERATOR, "churn", enabled=False, reason="   ")
    assert info.value.details["field"] == "reason"
    assert switch_states(session) == {}


def test_a_long_reason_is_kept_to_500_characters(session: Session) -> None:
    set_switch(session, OPERATOR, "churn", enabled=False, reason="r" * 600)
    assert switch_states(session)["churn"]["reason"] == "r" * 500


def test_a_viewer_or_developer_may_not_flip_a_switch(session: Session) -> None:
    for role in (Role.VIEWER, Role.DEVELOPER):
        with pytest.raises(PermissionDenied):
            set_switch(session, Principal("x", role), "churn", enabled=False, reason="why not")
    assert switch_states(session) == {}

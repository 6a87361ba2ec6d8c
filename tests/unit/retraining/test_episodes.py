"""Episodes in the metadata store: each change audited with the state it set, a change on a
state that moved on refused with what it is now and nothing written, closing one freeing
the policy's one open slot (SQLite and Postgres)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from modelward.config import Workspace
from modelward.errors import Conflict, NotFound
from modelward.retraining.episodes import change, get_episode, list_episodes
from modelward.retraining.tables import retrain_episodes
from modelward.security import entries
from modelward.session import Session


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


def _insert(session: Session, ep_id: str, state: str = "running", policy: str = "churn") -> None:
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "id": ep_id,
        "policy": policy,
        "key": f"performance:churn@3:{ep_id}",
        "kind": "performance",
        "decision": "retrain",
        "state": state,
        "reason": "AUC fell",
        "checks": [],
        "evidence": {},
        "window_start": None,
        "window_end": None,
        "run_id": None,
        "candidate": None,
        "release_id": None,
        "stage": 0,
        "cpu_s": 0.0,
        "linked": 0,
        "open_slot": policy if state in ("running", "releasing") else None,
        "created_by": "loop",
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
    }
    with session.store.transaction() as conn:
        conn.execute(insert(retrain_episodes).values(**row))


def test_a_change_is_written_and_audited_and_closing_frees_the_slot(session: Session) -> None:
    _insert(session, "e1")
    running = get_episode(session, "e1")
    assert running.open
    releasing = change(
        session, running, "loop", "candidate", state="releasing", candidate="churn@4"
    )
    assert (releasing.state, releasing.candidate, releasing.closed_at) == (
        "releasing",
        "churn@4",
        None,
    )
    done = change(session, releasing, "loop", "promoted", state="promoted", reason="canary passed")
    assert not done.open and done.closed_at is not None
    _insert(session, "e2")  # the policy's slot is free again: a new episode may open
    with session.store.read() as conn:
        audited = [(e.action, e.payload) for e in entries(conn, target="retraining:churn")]
    assert audited == [
        ("retraining.candidate", {"episode": "e1", "state": "releasing", "candidate": "churn@4"}),
        ("retraining.promoted", {"episode": "e1", "state": "promoted", "reason": "canary passed"}),
    ]


def test_two_open_episodes_of_one_policy_cannot_exist(session: Session) -> None:
    _insert(session, "e1")
    with pytest.raises(IntegrityError):
        _insert(session, "e2")
    assert [e.id for e in list_episodes(session, "churn")] == ["e1"]


def test_a_change_on_a_state_that_moved_on_is_a_conflict_and_writes_nothing(
    session: Session,
) -> None:
    _insert(session, "e1")
    read_before = get_episode(session, "e1")
    change(session, read_before, "loop", "abandoned", state="abandoned", reason="run took too long")
    with pytest.raises(
        Conflict,
        match="is abandoned now, not running \\(run took too long\\); 'finished' was not recorded",
    ):
        change(session, read_before, "worker", "finished", state="releasing", candidate="churn@5")
    assert get_episode(session, "e1").candidate is None
    with session.store.read() as conn:
        assert [e.action for e in entries(conn, target="retraining:churn")] == [
            "retraining.abandoned"
        ]


def test_an_unknown_episode_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="retraining episode 'nope' does not exist"):
        get_episode(session, "nope")
    _insert(session, "e1")
    ghost = get_episode(session, "e1").__class__(
        **{**get_episode(session, "e1").__dict__, "id": "ghost"}
    )
    with pytest.raises(NotFound):
        change(session, ghost, "loop", "x", state="abandoned")


def test_episodes_are_listed_newest_first_per_policy(session: Session) -> None:
    _insert(session, "a1", state="promoted", policy="a")
    _insert(session, "b1", state="promoted", policy="b")
    _insert(session, "a2", state="blocked", policy="a")
    assert [e.id for e in list_episodes(session, "a")] == ["a2", "a1"]
    assert {e.id for e in list_episodes(session)} == {"a1", "a2", "b1"}
    assert get_episode(session, "a2").to_dict()["closed_at"] is None

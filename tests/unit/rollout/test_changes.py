"""Changes to releases in the metadata store, on SQLite and Postgres: each step audited,
finished releases refusing more, candidates checked, roles, and conflicts where two changes
race."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from modelward import rollout, security
from modelward.config import Workspace
from modelward.errors import CheckFailed, Conflict, InputError, NotFound, PermissionDenied
from modelward.rollout import RolloutPolicy
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.rollout.support import Setup, setup

pytestmark = MLFLOW_WARNINGS


T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def w(workspace: Workspace) -> Iterator[Setup]:
    made = setup(workspace)
    yield made
    made.session.close()


def _start(w: Setup, strategy: str = "canary", **kw: object) -> rollout.Release:
    return rollout.start_release(
        w.session,
        w.operator,
        endpoint="churn",
        baseline=w.baseline,
        candidate=w.candidate,
        strategy=strategy,
        now=T0,
        **kw,  # type: ignore[arg-type]
    )


def _audit(w: Setup) -> list[security.AuditEntry]:
    with w.session.store.read() as conn:
        return [e for e in security.entries(conn, target="endpoint:churn")]


def test_a_canary_climbs_its_steps_and_is_promoted_with_an_audit_entry_each(w: Setup) -> None:
    release = _start(w, policy=RolloutPolicy(steps=[5, 50]))
    assert (release.state, release.step, release.weight, release.version) == ("running", 0, 5, 1)
    assert release.plan().weight == 5 and release.plan().candidate == w.candidate
    stepped = rollout.advance(w.session, w.operator, "churn", now=T0 + timedelta(minutes=1))
    assert (stepped.step, stepped.weight, stepped.version) == (1, 50, 2)
    assert stepped.step_started_at == T0 + timedelta(minutes=1)
    with pytest.raises(Conflict, match="last step"):
        rollout.advance(w.session, w.operator, "churn")
    done = rollout.promote(w.session, w.operator, "churn", reason="looks good")
    assert (done.state, done.weight) == ("promoted", 100)
    assert done.plan() == rollout.TrafficPlan.single(w.candidate)
    (plan, live, decided_at) = rollout.current_plans(w.session)["churn"]
    assert plan == done.plan() and not live and decided_at == done.updated_at
    actions = [e.action for e in _audit(w)]
    assert actions == ["release.start", "release.advance", "release.promote"]
    last = _audit(w)[-1]
    assert last.actor == "olga" and last.note == "looks good"
    assert last.payload["from"]["weight"] == 50 and last.payload["to"]["state"] == "promoted"


def test_abort_and_rollback_put_the_baseline_back(w: Setup) -> None:
    _start(w)
    aborted = rollout.abort(w.session, w.operator, "churn")
    assert aborted.plan() == rollout.TrafficPlan.single(w.baseline)
    _start(w, strategy="blue-green")  # the endpoint is free again
    green = rollout.advance(w.session, w.operator, "churn")
    assert green.plan().route("anyone").version == w.candidate
    promoted = rollout.promote(w.session, w.operator, "churn")
    blue = rollout.rollback(w.session, w.operator, "churn", reason="pager")
    assert (promoted.state, blue.state) == ("promoted", "rolled_back")
    assert blue.plan().route("anyone").version == w.baseline
    assert "churn" not in rollout.current_plans(w.session)  # the definition's model serves


def test_pause_holds_and_resume_continues(w: Setup) -> None:
    _start(w)
    paused = rollout.pause(w.session, w.operator, "churn")
    assert paused.state == "paused" and paused.weight == 5
    with pytest.raises(Conflict, match="pause needs running"):
        rollout.pause(w.session, w.operator, "churn")
    assert rollout.resume(w.session, w.operator, "churn").state == "running"


def test_a_finished_release_refuses_further_changes(w: Setup) -> None:
    _start(w)
    rollout.abort(w.session, w.operator, "churn")
    before = len(_audit(w))
    for change in (rollout.advance, rollout.promote, rollout.pause, rollout.rollback):
        with pytest.raises(Conflict, match="is aborted"):
            change(w.session, w.operator, "churn")
    assert len(_audit(w)) == before


def test_a_second_release_on_one_endpoint_is_a_conflict(w: Setup) -> None:
    first = _start(w)
    with pytest.raises(Conflict, match=f"already has a live release \\({first.id}\\)") as caught:
        _start(w, strategy="shadow")
    assert caught.value.to_problem()["status"] == 409
    assert [r.id for r in rollout.list_releases(w.session, "churn")] == [first.id]


def test_a_candidate_whose_lineage_gate_fails_is_refused(w: Setup) -> None:
    with pytest.raises(CheckFailed, match="fails its lineage gate") as caught:
        rollout.start_release(
            w.session,
            w.operator,
            endpoint="churn",
            baseline=w.baseline,
            candidate=w.incomplete,
            strategy="canary",
        )
    assert caught.value.exit_code == 1
    assert caught.value.details["gate_results"][0]["gate"] == "lineage_complete"
    with pytest.raises(InputError, match="serves already"):
        rollout.start_release(
            w.session,
            w.operator,
            endpoint="churn",
            baseline=w.candidate,
            candidate=w.candidate,
            strategy="canary",
        )
    assert rollout.list_releases(w.session) == []
    assert _audit(w) == []


def test_a_candidate_that_does_not_exist_is_refused(w: Setup) -> None:
    # churn has no Production version; a stage reference to a known model is answered from
    # the registry's table (a missing version number would ask MLflow first, which is slow)
    with pytest.raises(NotFound):
        rollout.start_release(
            w.session,
            w.operator,
            endpoint="churn",
            baseline=w.baseline,
            candidate="churn@production",
            strategy="canary",
        )
    assert rollout.list_releases(w.session) == []


def test_a_viewer_reads_but_may_not_act(w: Setup) -> None:
    _start(w)
    assert rollout.current_release(w.session, "churn").state == "running"
    with pytest.raises(PermissionDenied, match="releases:operate"):
        rollout.abort(w.session, w.viewer, "churn")
    with pytest.raises(PermissionDenied):
        _start(w.__class__(**{**w.__dict__, "operator": w.viewer}))


def test_a_change_on_a_stale_version_is_a_conflict_and_writes_nothing(w: Setup) -> None:
    release = _start(w)
    rollout.pause(w.session, w.operator, "churn", expected_version=release.version)
    with pytest.raises(Conflict, match="changed since version 1"):
        rollout.abort(w.session, w.operator, "churn", expected_version=release.version)
    assert rollout.current_release(w.session, "churn").state == "paused"


def test_two_operators_at_once_one_wins_the_other_gets_a_conflict(w: Setup) -> None:
    release = _start(w)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(change: object) -> None:
        barrier.wait()
        try:
            change(w.session, w.operator, "churn", expected_version=release.version)  # type: ignore[operator]
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=act, args=(c,)) for c in (rollout.promote, rollout.abort)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "won"]
    final = rollout.current_release(w.session, "churn")
    assert final.version == 2 and final.state in ("promoted", "aborted")
    assert len(_audit(w)) == 2  # the start and the winner
    with w.session.store.read() as conn:
        assert security.verify(conn).ok  # racing writers left the audit chain intact


def test_two_starts_at_once_leave_one_live_release(w: Setup) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def start(strategy: str) -> None:
        barrier.wait()
        try:
            _start(w, strategy=strategy)
            outcomes.append("started")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=start, args=(s,)) for s in ("canary", "shadow")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "started"]
    assert len(rollout.list_releases(w.session, live_only=True)) == 1

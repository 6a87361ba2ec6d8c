"""The loop on SQLite and Postgres: one run per episode, linked repeats, the candidate
through shadow then canary, never past the registry's stage gates."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from modelward import registry, rollout, security
from modelward.config import Workspace
from modelward.errors import NotFound, PermissionDenied
from modelward.registry.tables import model_versions
from modelward.retraining import (
    Evidence,
    RunOutcome,
    Trigger,
    advance_episodes,
    handle_trigger,
    list_episodes,
    policies_of,
    set_switch,
    trigger_by_hand,
)
from modelward.rollout.tables import releases
from modelward.security import Principal, Role
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, principal
from tests.unit.registry.test_lineage import complete
from tests.unit.retraining.test_judgement import NOW
from tests.unit.retraining.test_judgement import run as run_of
from tests.unit.rollout.support import catalogue

pytestmark = MLFLOW_WARNINGS

POLICY_TOML = """
[[retraining.policies]]
name = "churn-retrain"
endpoint = "churn"
model = "churn"
pipeline = "churn"
window_days = 30
window_params = {start = "train_from", end = "train_until"}
"""
DECAY = Trigger("performance", "performance:churn@1", "AUC 0.70 against 0.85")


def champion_session(workspace_dir: Path, environ: dict[str, str]) -> Iterator[Session]:
    """A workspace with POLICY_TOML and two catalogued churn versions, churn@1 in Production."""
    (workspace_dir / "modelward.toml").write_text(POLICY_TOML)
    with Session(Workspace.open(workspace_dir, environ=environ)) as opened:
        catalogue(opened, "churn", [complete(), complete()])
        with opened.store.transaction() as conn:
            conn.execute(
                update(model_versions)
                .where(model_versions.c.model_name == "churn", model_versions.c.version == 1)
                .values(stage="Production")
            )
        yield opened


@pytest.fixture
def session(workspace_dir: Path, workspace_env: dict[str, str]) -> Iterator[Session]:
    yield from champion_session(workspace_dir, workspace_env)


@pytest.fixture
def operator(session: Session) -> Principal:
    return principal(session, "olga", Role.OPERATOR)


def run(auc: float, coverage: float = 0.6) -> dict[str, Any]:
    return run_of(auc, coverage, version="1")


def decayed(**kw: Any) -> Evidence:
    fields: dict[str, Any] = {
        "now": NOW,
        "serving": "churn@1",
        "held_out": {"roc_auc": 0.85},
        "runs": [run(0.70), run(0.71)],
    }
    return Evidence(**(fields | kw))


class Runner:
    """Stands in for the pipeline: records what it was asked, returns a set outcome."""

    def __init__(self, accepted: bool = True, candidate: str = "churn@2") -> None:
        self.calls: list[dict[str, Any]] = []
        self.outcome = RunOutcome("run-1", True, candidate, accepted, cpu_s=12.5)

    def __call__(
        self, session: Session, policy: Any, pipeline: str, params: Any, **kw: Any
    ) -> RunOutcome:
        self.calls.append({"pipeline": pipeline, **params})
        return self.outcome


def actions(session: Session) -> list[str]:
    with session.store.read() as conn:
        return [e.action for e in security.entries(conn) if e.action.startswith("retraining.")]


def test_one_run_per_episode_its_window_stored_and_a_repeat_linked(
    session: Session, operator: Principal
) -> None:
    policy = policies_of(session)[0]
    runner = Runner()
    first = handle_trigger(session, operator, policy, DECAY, evidence=decayed(), runner=runner)
    assert (first.decision, first.state, first.candidate) == ("retrain", "releasing", "churn@2")
    assert first.window_end is not None and first.window_start is not None
    assert (first.window_end - first.window_start).days == 30
    assert runner.calls == [
        {
            "pipeline": "churn",
            "train_from": first.window_start.isoformat(),
            "train_until": first.window_end.isoformat(),
        }
    ]
    release = rollout.get_release(session, first.release_id or "")
    assert (release.strategy.value, release.baseline, release.candidate) == (
        "shadow",
        "churn@1",
        "churn@2",
    )
    again = handle_trigger(session, operator, policy, DECAY, evidence=decayed(), runner=runner)
    assert again.was_linked and again.id == first.id and again.linked == 1
    assert len(runner.calls) == 1
    assert actions(session) == [
        "retraining.decided",
        "retraining.candidate",
        "retraining.release_started",
        "retraining.trigger_linked",
    ]


def test_a_worse_candidate_is_rejected_and_the_champion_stays(
    session: Session, operator: Principal
) -> None:
    policy = policies_of(session)[0]
    episode = handle_trigger(
        session, operator, policy, DECAY, evidence=decayed(), runner=Runner(accepted=False)
    )
    assert episode.state == "rejected" and episode.closed_at is not None
    assert episode.reason == ("churn@2 rejected at evaluation against the champion; churn@1 stays")
    with pytest.raises(NotFound):
        rollout.current_release(session, "churn")
    assert registry.get_version(session, "churn@production").ref == "churn@1"


def test_delayed_labels_wait_once_and_repeats_are_linked(
    session: Session, operator: Principal
) -> None:
    policy = policies_of(session)[0]
    runner = Runner()
    late = decayed(runs=[run(0.70, coverage=0.02), run(0.70, coverage=0.02)])
    for _ in range(3):
        episode = handle_trigger(session, operator, policy, DECAY, evidence=late, runner=runner)
    assert (episode.decision, episode.state, episode.linked) == ("wait", "waited", 2)
    assert "label coverage 2%" in episode.reason
    assert runner.calls == [] and len(list_episodes(session)) == 1


def test_the_kill_switch_blocks_and_only_an_operator_throws_it(
    session: Session, operator: Principal
) -> None:
    viewer = principal(session, "vic", Role.VIEWER)
    with pytest.raises(PermissionDenied):
        set_switch(session, viewer, "*", enabled=False, reason="incident")
    set_switch(session, operator, "*", enabled=False, reason="incident INC-7")
    runner = Runner()
    episode = trigger_by_hand(session, operator, "churn-retrain", "new pricing", runner=runner)
    assert (episode.decision, episode.state) == ("block", "blocked")
    assert "INC-7" in episode.reason and runner.calls == []
    set_switch(session, operator, "*", enabled=True, reason="resolved")
    resumed = trigger_by_hand(session, operator, "churn-retrain", "new pricing", runner=runner)
    assert resumed.state == "releasing" and len(runner.calls) == 1


def test_shadow_then_canary_then_traffic_but_never_the_production_stage(
    session: Session, operator: Principal
) -> None:
    policy = policies_of(session)[0]
    episode = handle_trigger(session, operator, policy, DECAY, evidence=decayed(), runner=Runner())
    assert advance_episodes(session, operator) == []  # the shadow has no verdict yet
    with session.store.transaction() as conn:
        conn.execute(
            update(releases)
            .where(releases.c.id == episode.release_id)
            .values(last_analysis={"verdict": "pass"})
        )
    (moved,) = advance_episodes(session, operator)
    assert (moved.stage, moved.state) == (1, "releasing") and moved.release_id != episode.release_id
    assert rollout.get_release(session, episode.release_id or "").state == "aborted"
    canary = rollout.current_release(session, "churn")
    assert (canary.strategy.value, canary.candidate) == ("canary", "churn@2")
    rollout.promote(session, operator, "churn")
    (done,) = advance_episodes(session, operator)
    assert done.state == "released" and "stage policy's gates and approvals" in done.reason
    # traffic moved; the registry's stage did not: that is the stage policy's to allow
    assert registry.get_version(session, "churn@2").stage == "None"


def test_two_loops_racing_on_one_trigger_start_one_run(
    session: Session, operator: Principal
) -> None:
    policy = policies_of(session)[0]
    runner = Runner()
    barrier = threading.Barrier(2)
    seen: list[Any] = []

    def loop() -> None:
        with Session(session.workspace) as own:
            barrier.wait(timeout=30)
            seen.append(
                handle_trigger(own, operator, policy, DECAY, evidence=decayed(), runner=runner)
            )

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(seen) == 2 and len(runner.calls) == 1
    assert sorted(e.was_linked for e in seen) == [False, True]
    assert len({e.id for e in seen}) == 1


def test_the_cli_lists_pauses_triggers_and_shows_a_decision(
    sqlite_workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from tests.unit.registry.support import admin, cli

    (sqlite_workspace.root / "modelward.toml").write_text(POLICY_TOML)
    ws = Workspace.open(sqlite_workspace.root, environ={"MODELWARD_IDENTITY__USER": "tester"})
    with Session(ws) as session:
        admin(session)  # the local admin token `modelward init` makes
    code, out, _ = cli(capsys, monkeypatch, ws, "retrain", "policies", "--json")
    (policy,) = json.loads(out)["policies"]
    assert code == 0 and (policy["name"], policy["strategies"]) == (
        "churn-retrain",
        ["shadow", "canary"],
    )
    code, _, err = cli(capsys, monkeypatch, ws, "retrain", "pause", "--reason", "x")
    assert code == 2 and "name a policy, or give --all" in err
    assert cli(capsys, monkeypatch, ws, "retrain", "pause", "--all", "--reason", "INC-9")[0] == 0
    code, out, _ = cli(
        capsys, monkeypatch, ws, "retrain", "trigger", "churn-retrain", "--reason", "new price"
    )
    assert code == 0 and "block -> blocked" in out and "INC-9" in out
    code, out, _ = cli(capsys, monkeypatch, ws, "retrain", "history", "churn-retrain", "--json")
    (episode,) = json.loads(out)
    assert (episode["kind"], episode["decision"]) == ("manual", "block")
    code, out, _ = cli(capsys, monkeypatch, ws, "retrain", "show", episode["id"])
    assert code == 0 and "switch" in out and "no" in out
    code, _, err = cli(capsys, monkeypatch, ws, "retrain", "history", "nope")
    assert code != 0 and "no retraining policy named 'nope'" in err


def test_a_run_whose_process_died_frees_the_policy_after_its_timeout(
    session: Session, operator: Principal
) -> None:
    from datetime import UTC, datetime, timedelta

    from modelward.retraining.tables import retrain_episodes

    policy = policies_of(session)[0]

    def crashed(*_: Any, **__: Any) -> RunOutcome:
        raise KeyboardInterrupt  # stands for kill -9: the process stops mid-run

    with pytest.raises(KeyboardInterrupt):
        handle_trigger(session, operator, policy, DECAY, evidence=decayed(), runner=crashed)
    (stuck,) = list_episodes(session)
    assert stuck.state == "running"
    again = handle_trigger(session, operator, policy, DECAY, evidence=decayed(), runner=Runner())
    assert again.was_linked and again.id == stuck.id  # within the timeout: still its run
    with session.store.transaction() as conn:
        conn.execute(
            update(retrain_episodes)
            .where(retrain_episodes.c.id == stuck.id)
            .values(updated_at=datetime.now(UTC) - timedelta(hours=7))
        )
    fresh = handle_trigger(session, operator, policy, DECAY, evidence=decayed(), runner=Runner())
    assert not fresh.was_linked and fresh.state == "releasing"
    old = next(e for e in list_episodes(session) if e.id == stuck.id)
    assert old.state == "abandoned" and old.reason.startswith("abandoned: no progress")


def test_a_run_that_finishes_after_its_episode_was_abandoned_changes_nothing(
    session: Session, operator: Principal
) -> None:
    # the run outlived run_timeout_s without progress: the loop closed its episode as
    # abandoned and started a fresh run, which released its candidate. When the slow run
    # then finishes, its candidate must not reopen the closed episode or start a second
    # release on the endpoint.
    from datetime import UTC, datetime, timedelta

    from modelward.retraining.tables import retrain_episodes

    policy = policies_of(session)[0]
    fresh: list[Any] = []

    def slow(*args: Any, **kwargs: Any) -> RunOutcome:
        (stuck,) = list_episodes(session)
        with session.store.transaction() as conn:
            conn.execute(
                update(retrain_episodes)
                .where(retrain_episodes.c.id == stuck.id)
                .values(updated_at=datetime.now(UTC) - timedelta(hours=7))
            )
        fresh.append(
            handle_trigger(session, operator, policy, DECAY, evidence=decayed(), runner=Runner())
        )
        return RunOutcome("run-slow", True, "churn@2", True, cpu_s=99.0)

    late = handle_trigger(session, operator, policy, DECAY, evidence=decayed(), runner=slow)
    assert late.state == "abandoned" and late.reason.startswith("abandoned: no progress")
    assert late.candidate is None and late.run_id is None  # the slow run's result is not kept
    (taken_over,) = fresh
    assert taken_over.id != late.id and taken_over.state == "releasing"
    with session.store.read() as conn:
        started = conn.execute(releases.select().where(releases.c.endpoint == "churn")).all()
        trail = [
            (e.action, e.payload.get("episode"))
            for e in security.entries(conn)
            if e.action.startswith("retraining.")
        ]
    assert len(started) == 1 and started[0].id == taken_over.release_id
    assert ("retraining.abandoned", late.id) in trail
    assert ("retraining.candidate", late.id) not in trail  # refused, so never audited


def test_a_look_at_another_moment_than_the_clock_does_not_abandon_a_running_episode(
    session: Session, operator: Principal
) -> None:
    # a look judged at the evidence's moment (NOW, months from the wall clock), as a
    # scheduler catching up or a replay does: the episode it opens is not idle for months
    policy = policies_of(session)[0]

    def crashed(*_: Any, **__: Any) -> RunOutcome:
        raise KeyboardInterrupt  # the run is still going, as far as the store can tell

    with pytest.raises(KeyboardInterrupt):
        handle_trigger(
            session, operator, policy, DECAY, evidence=decayed(), runner=crashed, now=NOW
        )
    (running,) = list_episodes(session)
    again = handle_trigger(
        session, operator, policy, DECAY, evidence=decayed(), runner=Runner(), now=NOW
    )
    assert again.was_linked and again.id == running.id
    (still,) = list_episodes(session)
    assert (still.state, still.linked) == ("running", 1)

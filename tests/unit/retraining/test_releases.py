"""A decided episode's work, edge by edge: what closes it (a crashing or stopped run, the
serving version again, nothing to release against, a release that cannot start, no
recalibration pipeline), the CPU budget the run is given, and a release ending otherwise.

(The candidate through shadow then canary, and a rejected candidate, are in test_loop.py.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelward import rollout
from modelward.errors import InputError, NotFound
from modelward.retraining import Evidence, RunOutcome, Trigger, advance_episodes, policies_of
from modelward.retraining.episodes import Episode
from modelward.retraining.loop import decide_trigger
from modelward.retraining.policies import RetrainPolicy
from modelward.retraining.releases import run_decided, start_release
from modelward.security import Principal, Role
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, principal
from tests.unit.retraining.test_loop import DECAY, Runner, champion_session, decayed

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def session(workspace_dir: Path) -> Iterator[Session]:
    yield from champion_session(workspace_dir, {"MODELWARD_IDENTITY__USER": "tester"})


@pytest.fixture
def operator(session: Session) -> Principal:
    return principal(session, "olga", Role.OPERATOR)


def decided(
    session: Session, operator: Principal, trigger: Trigger = DECAY, **evidence: Any
) -> tuple[RetrainPolicy, Episode, Evidence]:
    policy = policies_of(session)[0]
    episode, ev = decide_trigger(session, operator, policy, trigger, evidence=decayed(**evidence))
    assert (episode.decision, episode.state) == ("retrain", "running")
    return policy, episode, ev


class Raising:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def __call__(self, *args: Any, **kw: Any) -> RunOutcome:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (InputError("param train_from: not a date"), "InputError: param train_from: not a date"),
        (RuntimeError("x" * 600), "RuntimeError: " + "x" * 486),  # cut to 500 characters
    ],
    ids=["our error", "the pipeline's own"],
)
def test_a_run_that_raises_fails_the_episode_with_the_error(
    session: Session, operator: Principal, exc: Exception, reason: str
) -> None:
    policy, episode, ev = decided(session, operator)
    closed = run_decided(session, operator, policy, episode, ev, Raising(exc))
    assert (closed.state, closed.reason) == ("failed", reason)
    assert closed.closed_at is not None and closed.candidate is None


def test_a_run_stopped_over_its_budget_is_stopped_with_its_cpu(
    session: Session, operator: Principal
) -> None:
    policy, episode, ev = decided(session, operator, cpu_today_s=1000.0)
    runner = Runner()
    runner.outcome = RunOutcome("run-9", False, cpu_s=77.0, error="over budget", stopped=True)
    asked: list[float] = []

    def counting(*args: Any, cpu_budget_s: float, **kw: Any) -> RunOutcome:
        asked.append(cpu_budget_s)
        return runner(*args, **kw)

    closed = run_decided(session, operator, policy, episode, ev, counting)
    assert (closed.state, closed.reason, closed.run_id, closed.cpu_s) == (
        "stopped",
        "over budget",
        "run-9",
        77.0,
    )
    assert asked == [policy.budget.max_cpu_s - 1000.0]  # what is left of today's budget


def test_the_serving_version_again_is_rejected_and_nothing_is_released(
    session: Session, operator: Principal
) -> None:
    policy, episode, ev = decided(session, operator)
    closed = run_decided(session, operator, policy, episode, ev, Runner(candidate="churn@1"))
    assert closed.state == "rejected"
    assert closed.reason == "churn@1 the run produced the serving version again; churn@1 stays"
    with pytest.raises(NotFound, match="modelward rollout start churn"):
        rollout.current_release(session, "churn")


def test_recalibration_without_a_recalibration_pipeline_is_noted_not_run(
    session: Session, operator: Principal
) -> None:
    policy, episode, ev = decided(session, operator)
    assert policy.recalibration_pipeline == ""
    runner = Runner()
    noted = run_decided(
        session, operator, policy, dataclasses.replace(episode, decision="recalibrate"), ev, runner
    )
    assert noted.state == "noted" and "names no recalibration_pipeline" in noted.reason
    assert runner.calls == []


def test_no_production_version_or_a_refused_release_fails_the_episode(
    session: Session, operator: Principal
) -> None:
    policy, episode, _ = decided(session, operator)
    orphan = start_release(session, operator, policy, episode, None, stage=0)
    assert (orphan.state, orphan.reason) == (
        "failed",
        "churn has no Production version to release against",
    )
    # another trigger: the first one's closed episode would take a repeat of it in
    other = Trigger("performance", "performance:churn@1:again", "AUC 0.69 against 0.85")
    policy, episode, _ = decided(session, operator, other)
    unknown = dataclasses.replace(episode, candidate="churn@1")  # the baseline itself
    refused = start_release(session, operator, policy, unknown, "churn@1", stage=0)
    assert refused.state == "failed"
    assert refused.reason.startswith("the shadow release could not start:")


def test_a_release_aborted_by_hand_rolls_the_episode_back(
    session: Session, operator: Principal
) -> None:
    policy, episode, ev = decided(session, operator)
    releasing = run_decided(session, operator, policy, episode, ev, Runner())
    assert releasing.state == "releasing"
    rollout.abort(session, operator, "churn", reason="a human said no")
    [moved] = advance_episodes(session, operator)
    assert (moved.id, moved.state) == (releasing.id, "rolled_back")
    assert moved.reason == "the shadow release was aborted"
    assert advance_episodes(session, operator) == []  # closed: nothing more to move

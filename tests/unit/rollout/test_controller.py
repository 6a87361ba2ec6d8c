"""The controller: advances a good canary, rolls a bad one back, holds on too little data,
and with two controllers running exactly one drives a release (SQLite and Postgres)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelward import rollout, security
from modelward.config import Workspace
from modelward.monitoring import PredictionSink, open_prediction_sink
from modelward.rollout import Controller, RolloutPolicy
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.rollout.support import Setup, setup
from tests.unit.rollout.traffic import BAD, GOOD, Behaviour, serve_release

pytestmark = MLFLOW_WARNINGS

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = RolloutPolicy(steps=[20, 50], interval_s=60, min_sample=200, inconclusive_deadline_s=300)


@pytest.fixture
def w(workspace: Workspace) -> Iterator[Setup]:
    made = setup(workspace)
    yield made
    made.session.close()


@pytest.fixture
def sink(workspace: Workspace) -> Iterator[PredictionSink]:
    opened = open_prediction_sink({"type": "memory"}, workspace.root)
    yield opened
    opened.close()


def _us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _start(w: Setup, policy: RolloutPolicy = POLICY) -> rollout.Release:
    return rollout.start_release(
        w.session,
        w.operator,
        endpoint="churn",
        baseline=w.baseline,
        candidate=w.candidate,
        strategy="canary",
        policy=policy,
        now=T0,
    )


def _traffic(w: Setup, sink: PredictionSink, n: int, candidate: Behaviour, seed: int) -> None:
    """``n`` requests answered by the endpoint's current plan, in the current step."""
    release = rollout.current_release(w.session, "churn")
    start = _us(release.step_started_at) + 1
    sink.write(serve_release(release, n, seed=seed, candidate=candidate, start_us=start))


def _actions(w: Setup) -> list[str]:
    with w.session.store.read() as conn:
        return [e.action for e in security.entries(conn, target="endpoint:churn")]


def test_a_good_canary_climbs_every_step_and_is_promoted(w: Setup, sink: PredictionSink) -> None:
    _start(w)
    ctl = Controller(w.session, sink, owner="c1")
    _traffic(w, sink, 1_500, GOOD, seed=1)
    early = ctl.tick(T0 + timedelta(seconds=30))  # passing, but the step lasts an interval
    assert [d.action for d in early] == ["wait"]
    t1 = T0 + timedelta(seconds=61)
    assert [d.action for d in ctl.tick(t1)] == ["advance"]
    assert rollout.current_release(w.session, "churn").weight == 50
    _traffic(w, sink, 800, GOOD, seed=2)
    assert [d.action for d in ctl.tick(t1 + timedelta(seconds=61))] == ["promote"]
    assert rollout.current_release(w.session, "churn").plan() == rollout.TrafficPlan.single(
        w.candidate
    )
    assert _actions(w) == ["release.start", "release.advance", "release.promote"]


def test_a_bad_canary_is_rolled_back_at_the_first_analysis_with_the_evidence(
    w: Setup, sink: PredictionSink
) -> None:
    _start(w)
    _traffic(w, sink, 1_500, BAD["+50 ms"], seed=3)
    ctl = Controller(w.session, sink, owner="c1")
    (decision,) = ctl.tick(T0 + timedelta(seconds=10))  # a fail does not wait an interval
    assert decision.action == "rollback" and "latency" in decision.reason
    release = rollout.current_release(w.session, "churn")
    assert release.state == "rolled_back"
    assert release.plan() == rollout.TrafficPlan.single(w.baseline)
    with w.session.store.read() as conn:
        entry = list(security.entries(conn, target="endpoint:churn"))[-1]
    assert entry.action == "release.rollback" and entry.actor == "rollout-controller:c1"
    latency = next(
        m for m in entry.payload["evidence"]["analysis"]["metrics"] if m["metric"] == "latency"
    )
    assert latency["verdict"] == "fail"


def test_too_little_data_holds_the_step_then_the_deadline_rolls_back(
    w: Setup, sink: PredictionSink
) -> None:
    _start(w)
    _traffic(w, sink, 300, GOOD, seed=4)  # ~60 candidate rows: below the minimum sample
    ctl = Controller(w.session, sink, owner="c1")
    assert [d.action for d in ctl.tick(T0 + timedelta(seconds=61))] == ["hold"]
    assert [d.action for d in ctl.tick(T0 + timedelta(seconds=121))] == ["hold"]
    held = rollout.current_release(w.session, "churn")
    assert held.held_since == T0 + timedelta(seconds=61)
    assert held.last_analysis is not None and held.last_analysis["verdict"] == "inconclusive"
    assert _actions(w) == ["release.start", "release.hold"]  # one hold entry per step
    (late,) = ctl.tick(T0 + timedelta(seconds=362))
    assert late.action == "rollback" and "deadline" in late.reason


def test_a_paused_release_is_left_alone(w: Setup, sink: PredictionSink) -> None:
    _start(w)
    rollout.pause(w.session, w.operator, "churn")
    _traffic(w, sink, 1_500, BAD["5% errors"], seed=5)
    assert [d.action for d in Controller(w.session, sink, owner="c1").tick(T0)] == ["wait"]
    assert rollout.current_release(w.session, "churn").state == "paused"


def test_two_controllers_at_once_exactly_one_drives_the_release(
    w: Setup, sink: PredictionSink
) -> None:
    _start(w)
    _traffic(w, sink, 1_500, BAD["+50 ms"], seed=6)
    ctls = [Controller(w.session, sink, owner=f"c{i}", lease_s=30) for i in (1, 2)]
    barrier = threading.Barrier(2)
    decided: list[str] = []

    def drive(ctl: Controller) -> None:
        barrier.wait()
        decided.extend(d.action for d in ctl.tick(T0 + timedelta(seconds=61)))

    threads = [threading.Thread(target=drive, args=(c,)) for c in ctls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # one rolled back; the other found the lease taken (or, if it looked after the
    # rollback committed, no live release at all)
    assert decided.count("rollback") == 1
    assert set(decided) <= {"rollback", "skip"}
    assert _actions(w).count("release.rollback") == 1


def test_a_lease_passes_to_another_controller_only_when_it_runs_out(
    w: Setup, sink: PredictionSink
) -> None:
    release = _start(w)
    first = Controller(w.session, sink, owner="c1", lease_s=30)
    second = Controller(w.session, sink, owner="c2", lease_s=30)
    assert first.acquire(release.id, T0)
    assert not second.acquire(release.id, T0 + timedelta(seconds=29))
    assert first.acquire(release.id, T0 + timedelta(seconds=29))  # renewed to T0+59s
    assert not second.acquire(release.id, T0 + timedelta(seconds=58))
    assert second.acquire(release.id, T0 + timedelta(seconds=60))  # c1 stopped renewing
    second.release_leases()
    assert rollout.current_release(w.session, "churn").lease_owner is None


def test_an_operator_acting_first_wins_over_the_controller(w: Setup, sink: PredictionSink) -> None:
    _start(w)
    _traffic(w, sink, 1_500, BAD["+50 ms"], seed=7)
    ctl = Controller(w.session, sink, owner="c1")
    stale = rollout.current_release(w.session, "churn")
    rollout.pause(w.session, w.operator, "churn")
    rollout.resume(w.session, w.operator, "churn")
    assert ctl._drive(stale, T0 + timedelta(seconds=61)).action == "skip"
    assert rollout.current_release(w.session, "churn").state == "running"


class FlakySink:
    """A prediction log that cannot be read for its first ``failures`` reads."""

    label = "flaky"

    def __init__(self, inner: PredictionSink, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def read_window(self, endpoint: str, **window: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("prediction log unreachable")
        return self.inner.read_window(endpoint, **window)


def test_the_controller_resumes_after_a_failed_pass(w: Setup, sink: PredictionSink) -> None:
    _start(w)
    _traffic(w, sink, 1_500, BAD["+50 ms"], seed=8)
    flaky = FlakySink(sink, failures=2)
    ctl = Controller(w.session, flaky, owner="c1", clock=lambda: T0 + timedelta(seconds=61))  # type: ignore[arg-type]
    stop = threading.Event()
    seen: list[list[str]] = []

    def on_tick(decisions: list[rollout.Decision]) -> None:
        seen.append([d.action for d in decisions])
        stop.set()

    runner = threading.Thread(target=ctl.run, args=(stop, 0.001, on_tick))
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert flaky.failures == 0 and seen == [["rollback"]]
    assert rollout.current_release(w.session, "churn").lease_owner is None  # given up

"""The rollout controller inside ``modelward server`` (``[rollout] controller = true``):
it drives releases from the configured prediction log, and with two servers running one
holds each release's lease until it stops (SQLite and Postgres)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelward import rollout, security
from modelward.api import create_app
from modelward.config import Workspace
from modelward.monitoring import open_prediction_sink
from modelward.rollout import ControllerThread, RolloutPolicy
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.rollout.support import Setup, setup
from tests.unit.rollout.traffic import BAD, GOOD, Behaviour, serve_release

pytestmark = MLFLOW_WARNINGS
POLICY = RolloutPolicy(steps=[20, 50], interval_s=60, min_sample=200)


@pytest.fixture
def w(workspace_dir: Path, workspace_env: dict[str, str]) -> Iterator[Setup]:
    env = {
        **workspace_env,
        "MODELWARD_ROLLOUT__CONTROLLER": "true",
        "MODELWARD_ROLLOUT__INTERVAL_S": "0.05",
        # longer than any pass can take on a loaded machine: a lease changes hands only
        # when its holder gives it up
        "MODELWARD_ROLLOUT__LEASE_S": "600",
    }
    made = setup(Workspace.open(workspace_dir, environ=env))
    yield made
    made.session.close()


def _release_with_traffic(w: Setup, n: int, candidate: Behaviour) -> rollout.Release:
    release = rollout.start_release(
        w.session,
        w.operator,
        endpoint="churn",
        baseline=w.baseline,
        candidate=w.candidate,
        strategy="canary",
        policy=POLICY,
    )
    settings = w.session.workspace.settings.serving
    sink = open_prediction_sink(settings.prediction_log, w.session.workspace.root)
    start = int(release.step_started_at.timestamp() * 1_000_000) + 1
    sink.write(serve_release(release, n, seed=11, candidate=candidate, start_us=start))
    sink.close()
    return release


def _until(done: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_the_servers_controller_rolls_back_a_bad_canary_and_gives_up_its_lease(
    w: Setup,
) -> None:
    _release_with_traffic(w, 1_500, BAD["+50 ms"])
    with TestClient(create_app(w.session)) as http:
        runner: ControllerThread = http.app.state.rollout_controller  # type: ignore[attr-defined]
        assert runner.running
        _until(
            lambda: rollout.current_release(w.session, "churn").state == "rolled_back",
            "the rollback",
        )
    assert not runner.running  # stopped with the server
    release = rollout.current_release(w.session, "churn")
    assert release.lease_owner is None
    with w.session.store.read() as conn:
        last = list(security.entries(conn, target="endpoint:churn"))[-1]
    assert last.action == "release.rollback"
    assert last.actor == f"rollout-controller:{runner.controller.owner}"


def test_two_servers_one_lease_holder_until_it_stops(w: Setup) -> None:
    _release_with_traffic(w, 300, GOOD)  # too little data: every pass holds the step
    second = Session(w.session.workspace)
    clients = [TestClient(create_app(w.session)), TestClient(create_app(second))]
    try:
        runners: list[ControllerThread] = [
            c.__enter__().app.state.rollout_controller  # type: ignore[attr-defined]
            for c in clients
        ]
        _until(lambda: all(r.passes >= 3 for r in runners), "three passes of each")
        owner = rollout.current_release(w.session, "churn").lease_owner
        (holder,) = [r for r in runners if r.controller.owner == owner]
        (other,) = [r for r in runners if r is not holder]
        assert [d.action for d in holder.decisions] == ["hold"]
        assert [d.action for d in other.decisions] == ["skip"]
        holder.stop()  # a clean stop gives the lease up: the other takes over at once
        _until(
            lambda: (
                rollout.current_release(w.session, "churn").lease_owner == other.controller.owner
            ),
            "the other server to take the lease",
        )
        _until(lambda: [d.action for d in other.decisions] == ["hold"], "its next pass")
    finally:
        for c in clients:
            c.__exit__(None, None, None)
        second.close()

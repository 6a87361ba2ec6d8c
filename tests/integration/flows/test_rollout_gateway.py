"""A release end to end, in process: the gateway routes by the release in the store, the
controller judges what it logged, and a bad candidate is rolled back (a good one promoted).

The gateway is wired with in-memory models (tests/unit/serving/support.py); the release,
its audit trail and the controller's lease are in the real metadata store (SQLite and
Postgres).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelward import rollout, security
from modelward.config import Workspace
from modelward.config.settings import ServingSettings
from modelward.monitoring.predictions import PredictionLogWriter
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.rollout import Controller, RolloutPolicy
from modelward.serving.app import candidate_failure_reporter
from modelward.serving.auth import TokenVerifier
from modelward.serving.config_cache import EndpointCache, Sources
from modelward.serving.gateway import Gateway
from modelward.serving.metrics import GatewayMetrics
from modelward.serving.models import ObjectModelLoader, StaticModelResolver
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.rollout.support import Setup, setup
from tests.unit.serving.support import AUTH, ConstantModel, World, authenticate, run, serving, spec

pytestmark = MLFLOW_WARNINGS
URL = "/v1/endpoints/churn/predict"
POLICY = RolloutPolicy(steps=[50], interval_s=1, min_sample=60, metrics=[{"metric": "score"}])


@pytest.fixture
def w(workspace: Workspace) -> Iterator[Setup]:
    made = setup(workspace)
    yield made
    made.session.close()


def _gateway(w: Setup, world: World, sink: MemoryPredictionSink) -> Gateway:
    metrics = GatewayMetrics()
    sources = Sources(
        load_endpoints=world.load,
        resolver=StaticModelResolver(world.models),
        loader=ObjectModelLoader(),
        load_plans=lambda: rollout.current_plans(w.session),
        candidate_failed=candidate_failure_reporter(w.session),
    )
    return Gateway(
        ServingSettings(access_log=False, gc_freeze=False, poll_interval_s=3600),
        EndpointCache(sources, metrics),
        TokenVerifier(authenticate, ttl_s=60),
        PredictionLogWriter(sink, flush_interval_s=0.01),
        metrics,
    )


def _release(w: Setup, candidate_model: Any) -> tuple[World, MemoryPredictionSink]:
    world = World()
    world.model(w.baseline, ConstantModel(0.2), "1")
    world.model(w.candidate, candidate_model, "2")
    world.put(spec("churn", w.baseline, entity_keys=["f0"]))
    rollout.start_release(
        w.session,
        w.operator,
        endpoint="churn",
        baseline=w.baseline,
        candidate=w.candidate,
        strategy="canary",
        policy=POLICY,
    )
    return world, MemoryPredictionSink()


def _drive(w: Setup, world: World, sink: MemoryPredictionSink) -> tuple[str, set[str]]:
    """Serve 300 customers, let the controller decide, refresh, serve again."""

    async def scenario() -> tuple[str, set[str]]:
        gw = _gateway(w, world, sink)
        async with serving(gw) as http:
            for customer in range(300):
                inputs = {"f0": float(customer), "f1": 0.0, "f2": 0.0, "f3": 0.0}
                r = await http.post(URL, json={"inputs": inputs}, headers=AUTH)
                assert r.status_code == 200, r.text
            assert await asyncio.to_thread(gw.writer.flush)  # the log holds every answer
            later = datetime.now(UTC) + timedelta(seconds=5)
            (decision,) = Controller(w.session, sink, owner="ctl").tick(later)
            await gw.refresh()
            after = set()
            for customer in range(50):
                inputs = {"f0": float(customer), "f1": 0.0, "f2": 0.0, "f3": 0.0}
                r = await http.post(URL, json={"inputs": inputs}, headers=AUTH)
                after.add(r.json()["model_version"])
        return decision.action, after

    return run(scenario())


def test_a_bad_candidate_is_rolled_back_and_the_baseline_answers_again(w: Setup) -> None:
    world, sink = _release(w, ConstantModel(0.9))  # scores far from the baseline's
    action, after = _drive(w, world, sink)
    assert action == "rollback"
    assert after == {"1"}
    assert rollout.current_release(w.session, "churn").state == "rolled_back"


def test_a_good_candidate_is_promoted_and_answers_everything(w: Setup) -> None:
    world, sink = _release(w, ConstantModel(0.2))
    action, after = _drive(w, world, sink)
    assert action == "promote"
    assert after == {"2"}


def test_a_candidate_that_fails_to_load_fails_its_release_and_moves_no_traffic(w: Setup) -> None:
    world = World()
    world.model(w.baseline, ConstantModel(0.2), "1")
    world.model(w.candidate, None, "2")  # no model object behind it: its load fails
    world.put(spec("churn", w.baseline, entity_keys=["f0"]))
    sink = MemoryPredictionSink()

    async def scenario() -> list[int | str]:
        gw = _gateway(w, world, sink)
        answers: list[int | str] = []
        async with serving(gw) as http:
            rollout.start_release(
                w.session,
                w.operator,
                endpoint="churn",
                baseline=w.baseline,
                candidate=w.candidate,
                strategy="blue-green",
                policy=POLICY,
            )
            rollout.advance(w.session, w.operator, "churn")  # green live, if it could load
            await gw.refresh()
            await gw.refresh()  # reported once, not at every poll
            for customer in range(40):
                inputs = {"f0": float(customer), "f1": 0.0, "f2": 0.0, "f3": 0.0}
                r = await http.post(URL, json={"inputs": inputs}, headers=AUTH)
                answers.append(r.json()["model_version"] if r.status_code == 200 else r.status_code)
            assert gw.cache.routings == {} and gw.cache.stale == {} and gw.cache.failed == {}
        return answers

    assert set(run(scenario())) == {"1"}  # every answer from the baseline, none failed
    release = rollout.current_release(w.session, "churn")
    assert release.state == "failed" and not release.live
    with w.session.store.read() as conn:
        entries = list(security.entries(conn, target="endpoint:churn"))
    assert [e.action for e in entries] == ["release.start", "release.advance", "release.fail"]
    assert entries[-1].actor.startswith("gateway:")
    assert "churn@2" in entries[-1].payload["evidence"]["load_error"]
    assert entries[-1].payload["to"]["weight"] == 0
    # the endpoint is free for the next release
    assert rollout.start_release(
        w.session,
        w.operator,
        endpoint="churn",
        baseline=w.baseline,
        candidate=w.candidate,
        strategy="shadow",
    ).live

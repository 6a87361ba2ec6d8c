"""Fallbacks per row, a model that cannot load, and one bad row failing alone.

Issue 16.3: in a 3-row request with one unknown entity all three rows got the fallback, and
a model that failed to load answered 404 despite its fallback. Issue 15.5: one request's
bad entity key failed its micro-batch's feature lookup for every batch-mate, and such
requests opened the feature breaker for everyone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelward.features import FeatureLookup, Record
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving.endpoints import Fallback
from modelward.serving.resilience import BreakerState
from modelward.serving.runtime import Job, Scored
from tests.unit.serving.support import (
    AUTH,
    FIELDS,
    ConstantModel,
    GatewayFactory,
    World,
    row,
    run,
    serving,
    spec,
)
from tests.unit.serving.test_gateway_features import URL, SwitchableStore, setup


def drivers(*ids: int) -> dict[str, Any]:
    return {"inputs": [{"driver_id": i, "km": 2.0} for i in ids]}


def test_only_the_row_without_features_gets_the_fallback(
    make_gateway: GatewayFactory, world: World, sink: MemoryPredictionSink, tmp_path: Path
) -> None:
    _, lookup = setup(world, tmp_path)  # driver 1 has features; 9 does not

    async def scenario() -> Any:
        async with serving(make_gateway(lookup=lookup)) as http:
            return await http.post(URL, json=drivers(1, 9, 1), headers=AUTH)

    answer = run(scenario())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    scored = 20 + 4.5 + 10.0 + 2.0  # trips + rating + trips_per_km + km
    assert body["predictions"] == [scored, -1.0, scored]
    assert body["degraded"] is True and body["model_version"] == "1"
    [(where, why)] = [(d["row"], d["reason"]) for d in body["degraded_rows"]]
    assert where == 1 and "no online value of trips, rating" in why and "driver_id=9" in why
    logged = sorted(sink.read(), key=lambda r: r.request_id)
    assert [(r.degraded, r.model_version, r.role) for r in logged] == [
        (False, "1", "primary"),
        (True, "fallback-response", "fallback"),
        (False, "1", "primary"),
    ]


def test_without_a_fallback_a_row_that_cannot_be_answered_is_named_in_the_503(
    make_gateway: GatewayFactory, world: World, tmp_path: Path
) -> None:
    _, lookup = setup(world, tmp_path)
    world.put(world.endpoints["drivers"].spec.model_copy(update={"fallback": None}))

    async def scenario() -> Any:
        async with serving(make_gateway(lookup=lookup)) as http:
            return await http.post(URL, json=drivers(1, 9), headers=AUTH)

    answer = run(scenario())
    assert answer.status_code == 503
    assert "cannot answer row(s) 1: no online value" in answer.json()["detail"]


def test_a_model_that_cannot_load_serves_its_fallback_and_readyz_says_why(
    make_gateway: GatewayFactory, world: World, classifier: Any
) -> None:
    # "broken@3": resolves, but its artifact cannot be loaded; "new@production": no
    # version in the stage yet
    world.model("broken@3", None, "3")
    world.put(spec(name="broken", model="broken@3", fallback=Fallback(response=0.25)))
    world.put(spec(name="new", model="new@production", fallback=Fallback(response=0.5)))
    world.put(spec(name="bare", model="new@production"))

    async def scenario() -> list[Any]:
        gateway = make_gateway()
        async with serving(gateway) as http:
            answers = [
                await http.post(f"/v1/endpoints/{n}/predict", json={"inputs": row()}, headers=AUTH)
                for n in ("broken", "new", "bare")
            ]
            ready = await http.get("/readyz")
            world.model("new@production", classifier, "1")  # a version enters the stage
            await gateway.refresh()
            after = await http.post(
                "/v1/endpoints/new/predict", json={"inputs": row()}, headers=AUTH
            )
            return [*answers, ready, after, await http.get("/readyz")]

    broken, new, bare, ready, after, ready_after = run(scenario())
    assert broken.status_code == 200 and broken.json()["prediction"] == 0.25
    assert broken.json()["degraded"] is True
    assert broken.json()["reason"].startswith("model unavailable:")
    assert "broken@3" in broken.json()["reason"]
    assert new.json() | {"request_id": None} == {
        "request_id": None,
        "endpoint": "new",
        "model": "new",
        "model_version": None,
        "degraded": True,
        "reason": new.json()["reason"],
        "prediction": 0.5,
    }
    assert "not registered" in new.json()["reason"]
    assert bare.status_code == 503  # no fallback: unavailable, not "not served here"
    assert ready.status_code == 503
    problems = ready.json()["problems"]
    assert set(problems) == {"broken", "new", "bare"}
    assert ready.json()["endpoints"]["broken"]["serving"] == "fallback"
    assert after.json()["degraded"] is False and after.json()["model_version"] == "1"
    assert "new" not in ready_after.json()["problems"]


class PickyStore(SwitchableStore):
    """Refuses a read that holds the key "13", as a store refuses a key it cannot take."""

    reads = 0

    def read(self, namespace: str, keys: Sequence[str]) -> list[Record | None]:
        self.reads += 1
        if "13" in keys:
            raise ValueError(f"key out of range for namespace {namespace!r}")
        return super().read(namespace, keys)


def test_a_bad_entity_key_fails_alone_and_never_opens_the_feature_breaker(
    make_gateway: GatewayFactory, world: World, tmp_path: Path
) -> None:
    memory, plain = setup(world, tmp_path)
    store = PickyStore()
    store._data = memory._data  # type: ignore[attr-defined]
    lookup = FeatureLookup(store, plain.catalog)

    async def scenario() -> Any:
        gateway = make_gateway(lookup=lookup)
        async with serving(gateway) as http:
            bad = [
                (await http.post(URL, json=drivers(13, 1), headers=AUTH)).json() for _ in range(6)
            ]
            return bad, gateway.cache.runtimes["drivers"]

    bad, runtime = run(scenario())
    assert all(a["predictions"][1] == 20 + 4.5 + 10.0 + 2.0 for a in bad)  # its batch-mate
    assert all(a["predictions"][0] == -1.0 for a in bad)
    reason = bad[-1]["degraded_rows"][0]["reason"]
    assert reason.startswith("the feature lookup failed for driver_id=13: ValueError: key out")
    assert runtime.feature_breaker.state is BreakerState.CLOSED  # a value, not the store
    assert runtime.feature_breaker.failures == 0


def test_in_one_micro_batch_an_out_of_range_key_fails_only_its_own_request(
    world: World, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    _, lookup = setup(world, tmp_path)

    async def scenario() -> Any:
        gateway = make_gateway(lookup=lookup)
        async with serving(gateway):
            return gateway.cache.runtimes["drivers"]

    runtime = run(scenario())
    later = time.monotonic() + 60
    jobs = [
        Job([{"driver_id": 1, "km": 2.0}], later),
        # beyond int64: the on-demand transform's Arrow conversion overflows on it
        Job([{"driver_id": 2**70, "km": 2.0}], later),
        Job([{"driver_id": 1, "km": 4.0}, {"driver_id": 9, "km": 1.0}], later),
    ]
    good, bad, mixed = runtime.score(runtime.model, jobs)
    assert isinstance(good, Scored) and good.reasons is None
    assert good.predictions == [20 + 4.5 + 10.0 + 2.0]
    assert isinstance(bad, Scored) and bad.predictions == [None]
    assert bad.reasons is not None and "OverflowError" in str(bad.reasons[0])
    assert isinstance(mixed, Scored) and mixed.predictions[0] == 20 + 4.5 + 5.0 + 4.0
    assert mixed.reasons is not None and "driver_id=9" in str(mixed.reasons[1])


class ValueRefusingModel(ConstantModel):
    """A sound model that raises on rows whose first input is negative."""

    def predict_proba(self, x: Any) -> Any:
        if (np.asarray(x)[:, 0] < 0).any():
            raise ValueError("negative f0")
        return super().predict_proba(x)


def test_a_row_the_model_refuses_fails_alone_and_never_opens_the_model_breaker(
    make_gateway: GatewayFactory, world: World
) -> None:
    world.model("m@production", ValueRefusingModel(0.8), "4")
    world.put(spec(fallback=Fallback(response=0.0)))

    async def scenario() -> Any:
        gateway = make_gateway()
        async with serving(gateway) as http:
            batch = {"inputs": [row(0.5), row(-1.0), row(0.5)]}
            answers = [
                (await http.post("/v1/endpoints/m/predict", json=batch, headers=AUTH)).json()
                for _ in range(6)
            ]
            return answers, gateway.cache.runtimes["m"]

    answers, runtime = run(scenario())
    assert all(a["predictions"] == [0.8, 0.0, 0.8] for a in answers)
    assert answers[0]["degraded_rows"] == [
        {"row": 1, "reason": "model failed on this row: ValueError: negative f0"}
    ]
    assert runtime.model_breaker.state is BreakerState.CLOSED
    assert set(FIELDS) == set(runtime.columns)

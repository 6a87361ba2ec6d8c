"""The gateway on a bad day: a hung online store opens the feature breaker, never the model's,
and requests the log could not carry are 422 while the log goes on."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from modelward.features import Catalog, FeatureLookup, Record
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.packing import entity_key, pack, to_us
from modelward.serving.endpoints import Fallback
from modelward.serving.resilience import BreakerState
from tests.unit.features.support import make_stats_view, write_stats
from tests.unit.serving.support import (
    AUTH,
    GatewayFactory,
    World,
    run,
    serving,
    spec,
)


class HungStore(MemoryOnlineStore):
    """An online store whose reads hang (a Redis that accepts and never answers) until
    ``released``; bounded, so a broken test cannot hang the suite."""

    def __init__(self) -> None:
        super().__init__()
        self.hung = False
        self.released = threading.Event()

    def read(self, namespace: str, keys: Sequence[str]) -> list[Record | None]:
        if self.hung:
            self.released.wait(30)
        return super().read(namespace, keys)


class EchoModel:
    def predict(self, x: Any) -> Any:
        return np.asarray(x).sum(axis=1)


def test_a_hung_online_store_opens_the_feature_breaker_never_the_model_breaker(
    make_gateway: GatewayFactory, world: World, tmp_path: Path
) -> None:
    """#15.7: a hung Redis ran requests past their budget, and the model was blamed."""
    view = make_stats_view(write_stats(tmp_path / "stats.parquet"))
    store = HungStore()
    store.write(
        view.online_namespace,
        [
            Record(
                entity_key([1]),
                to_us(datetime.now(UTC)),
                0,
                pack([20, 4.5, "a"], ["int64", "float64", "string"]),
            )
        ],
    )
    world.model("drivers@production", EchoModel(), "1")
    world.put(
        spec(
            name="drivers",
            model="drivers@production",
            request={"driver_id": "int", "km": "float"},
            entity_keys=["driver_id"],
            features=["driver_stats:trips"],
            model_inputs=["trips", "km"],
            fallback=Fallback(response=-1.0),
            latency_budget_ms=50,
        )
    )
    url = "/v1/endpoints/drivers/predict"
    body = {"inputs": {"driver_id": 1, "km": 4.0}}

    async def scenario() -> list[Any]:
        gateway = make_gateway(lookup=FeatureLookup(store, Catalog([view])))
        async with serving(gateway) as http:
            store.hung = True
            answers = [await http.post(url, json=body, headers=AUTH) for _ in range(7)]
            runtime = gateway.cache.runtimes["drivers"]
            states = (runtime.model_breaker.state, runtime.feature_breaker.state)
            store.hung = False
            store.released.set()
            return [answers, states]

    answers, (model_state, feature_state) = run(scenario())
    assert all(a.status_code == 200 and a.json()["degraded"] for a in answers)
    assert "reading online features" in answers[0].json()["reason"]
    assert "feature store circuit open" in answers[-1].json()["reason"]
    assert feature_state is BreakerState.OPEN
    assert model_state is BreakerState.CLOSED


def test_requests_the_log_could_not_carry_are_422_and_the_log_goes_on(
    make_gateway: GatewayFactory, world: World, sink: Any
) -> None:
    """#15.1 end to end: such a request was answered 200, then stopped the log for good."""
    world.put(
        spec(
            name="p",
            request={**{f"f{i}": "float" for i in range(4)}, "n": "int", "s": "string"},
            model_inputs=[f"f{i}" for i in range(4)],
        )
    )
    good = '"f0": 1, "f1": 2, "f2": 3, "f3": 4'
    poison = [
        '{"inputs": {' + good + ', "n": 9223372036854775808, "s": "a"}}',
        '{"inputs": {' + good + ', "n": 1, "s": "\\ud800"}}',
        '{"inputs": {"f0": 1e999, "f1": 2, "f2": 3, "f3": 4, "n": 1, "s": "a"}}',
        '{"inputs": {"f0": 1' + "0" * 400 + ', "f1": 2, "f2": 3, "f3": 4, "n": 1, "s": "a"}}',
    ]
    headers = {**AUTH, "Content-Type": "application/json"}

    async def scenario() -> list[Any]:
        async with serving(make_gateway()) as http:
            url = "/v1/endpoints/p/predict"
            refused = [await http.post(url, content=b, headers=headers) for b in poison]
            answered = [
                await http.post(
                    url, content='{"inputs": {' + good + ', "n": 7, "s": "é"}}', headers=headers
                )
                for _ in range(3)
            ]
        return [refused, answered]

    refused, answered = run(scenario())
    assert [r.status_code for r in refused] == [422] * 4
    fields = [r.json()["errors"][0]["field"] for r in refused]
    assert fields == ["inputs.n", "inputs.s", "inputs.f0", "inputs.f0"]
    assert all(a.status_code == 200 for a in answered)
    logged = [r for r in sink.read() if r.role != "rejected"]
    assert [r.request_id for r in logged] == [a.json()["request_id"] for a in answered]
    # each refusal is logged for the staging gate, without the value that broke its rule
    rejected = [r for r in sink.read() if r.role == "rejected"]
    assert [r.request_id for r in rejected] == [r.headers["x-request-id"] for r in refused]
    assert rejected[0].inputs == {"f0": 1, "f1": 2, "f2": 3, "f3": 4, "n": None, "s": "a"}
    assert all(r.inputs["n"] in (None, 1) and r.inputs["s"] in (None, "a") for r in rejected)
    assert all(r.inputs["f0"] in (None, 1) for r in rejected)

"""Online features in the gateway: the same lookup and on-demand code as training; faults."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from modelward.errors import StoreUnavailable
from modelward.features import Catalog, FeatureLookup, Record
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.packing import entity_key, pack, to_us
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving.endpoints import Fallback
from tests.unit.features.support import make_density, make_stats_view, write_stats
from tests.unit.serving.support import AUTH, GatewayFactory, World, run, serving, spec

URL = "/v1/endpoints/drivers/predict"


class SwitchableStore(MemoryOnlineStore):
    """The in-memory store, with a switch that makes reads fail like a dead server."""

    down = False

    def read(self, namespace: str, keys: Sequence[str]) -> list[Record | None]:
        if self.down:
            raise StoreUnavailable("cannot reach the online store redis://127.0.0.1:1")
        return super().read(namespace, keys)


class EchoModel:
    """Returns the sum of its inputs, so a test can see exactly what the model was given."""

    def predict(self, x: Any) -> Any:
        return np.asarray(x).sum(axis=1)


def setup(world: World, tmp_path: Path) -> tuple[SwitchableStore, FeatureLookup]:
    view = make_stats_view(write_stats(tmp_path / "stats.parquet"))
    catalog = Catalog([view, make_density(view)])
    store = SwitchableStore()
    now = to_us(datetime.now(UTC))
    store.write(
        view.online_namespace,
        [Record(entity_key([1]), now, 0, pack([20, 4.5, "a"], ["int64", "float64", "string"]))],
    )
    world.model("drivers@production", EchoModel(), "1")
    world.put(
        spec(
            name="drivers",
            model="drivers@production",
            request={"driver_id": "int", "km": "float"},
            entity_keys=["driver_id"],
            features=["driver_stats:trips", "driver_stats:rating"],
            transforms=["trips_per_km"],
            model_inputs=["trips", "rating", "trips_per_km", "km"],
            fallback=Fallback(response=-1.0),
        )
    )
    return store, FeatureLookup(store, catalog)


def test_features_and_on_demand_transform_reach_the_model_and_the_log(
    make_gateway: GatewayFactory, world: World, sink: MemoryPredictionSink, tmp_path: Path
) -> None:
    _, lookup = setup(world, tmp_path)

    async def scenario() -> Any:
        async with serving(make_gateway(lookup=lookup)) as http:
            return await http.post(URL, json={"inputs": {"driver_id": 1, "km": 4.0}}, headers=AUTH)

    answer = run(scenario()).json()
    # trips 20 + rating 4.5 + trips_per_km 20 / 4 + km 4
    assert answer["prediction"] == 20 + 4.5 + 5.0 + 4.0
    assert answer["degraded"] is False
    assert sink.read()[0].inputs == {
        "driver_id": 1,
        "km": 4.0,
        "trips": 20,
        "rating": 4.5,
        "trips_per_km": 5.0,
    }


def test_an_entity_without_features_falls_back_alone(
    make_gateway: GatewayFactory, world: World, tmp_path: Path
) -> None:
    _, lookup = setup(world, tmp_path)

    async def scenario() -> list[Any]:
        async with serving(make_gateway(lookup=lookup)) as http:
            known = http.post(URL, json={"inputs": {"driver_id": 1, "km": 2.0}}, headers=AUTH)
            unknown = http.post(URL, json={"inputs": {"driver_id": 9, "km": 2.0}}, headers=AUTH)
            import asyncio

            return [r.json() for r in await asyncio.gather(known, unknown)]

    known, unknown = run(scenario())
    assert known["degraded"] is False
    assert unknown["degraded"] is True and unknown["prediction"] == -1.0
    assert "no online value of trips, rating" in unknown["reason"]
    assert "driver_id=9" in unknown["reason"]


def test_feature_store_down_answers_degraded_and_readyz_says_why(
    make_gateway: GatewayFactory, world: World, tmp_path: Path
) -> None:
    store, lookup = setup(world, tmp_path)

    async def scenario() -> list[Any]:
        gateway = make_gateway(lookup=lookup)
        gateway.feature_probe = lambda: store.read("x", ["probe"]) and None
        async with serving(gateway) as http:
            store.down = True
            answers = [
                (
                    await http.post(URL, json={"inputs": {"driver_id": 1, "km": 2.0}}, headers=AUTH)
                ).json()
                for _ in range(6)
            ]
            return [answers, await http.get("/readyz")]

    answers, ready = run(scenario())
    assert all(a["degraded"] and a["prediction"] == -1.0 for a in answers)
    assert answers[0]["reason"].startswith("feature store failed: StoreUnavailable")
    assert answers[-1]["reason"] == "feature store circuit open"
    assert ready.status_code == 503
    assert "cannot reach the online store" in ready.json()["problems"]["feature_store"]


def test_a_transform_refusing_a_request_value_is_a_422_for_that_request_only(
    make_gateway: GatewayFactory, world: World, tmp_path: Path
) -> None:
    _, lookup = setup(world, tmp_path)

    async def scenario() -> list[Any]:
        import asyncio

        async with serving(make_gateway(lookup=lookup)) as http:
            bad = http.post(URL, json={"inputs": {"driver_id": 1, "km": 0.0}}, headers=AUTH)
            good = http.post(URL, json={"inputs": {"driver_id": 1, "km": 2.0}}, headers=AUTH)
            return list(await asyncio.gather(bad, good))

    bad, good = run(scenario())
    assert bad.status_code == 422
    assert "trips_per_km" in bad.json()["detail"] and "km must be positive" in bad.json()["detail"]
    assert good.status_code == 200 and good.json()["degraded"] is False


def test_an_unreachable_redis_online_store_answers_degraded_within_the_budget(
    make_gateway: GatewayFactory, world: World, tmp_path: Path
) -> None:
    from modelward.features import open_online_store

    _, memory_lookup = setup(world, tmp_path)
    # nothing listens on port 1: connections are refused, as when the server is down
    dead = open_online_store(
        {"type": "redis", "url": "redis://127.0.0.1:1/0", "connect_timeout_s": 0.5}, tmp_path
    )
    lookup = FeatureLookup(dead, memory_lookup.catalog)

    async def scenario() -> list[Any]:
        async with serving(make_gateway(lookup=lookup)) as http:
            return [
                (
                    await http.post(URL, json={"inputs": {"driver_id": 1, "km": 2.0}}, headers=AUTH)
                ).json()
                for _ in range(3)
            ]

    answers = run(scenario())
    dead.close()
    # each request met the refused connection and was answered by the fallback (not a
    # hang, not a 5xx): the store failure is the reason every time
    assert all(a["degraded"] and a["prediction"] == -1.0 for a in answers)
    assert all("feature store failed" in a["reason"] for a in answers)

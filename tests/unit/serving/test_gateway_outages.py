"""The gateway on a bad day: a broken stored definition, the metadata database gone.

#15.2: one unreadable endpoint once stopped every gateway from (re)loading; #15.3: once the
token cache expired, a database outage turned every request into a 500 while /readyz said
ready. Serving keeps the last good state, bounded, and says what is wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from modelward.errors import StoreUnavailable, Unauthenticated
from modelward.features import Catalog, FeatureLookup, Record
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.packing import entity_key, pack, to_us
from modelward.security.roles import Principal
from modelward.serving.auth import TokenVerifier
from modelward.serving.endpoints import BrokenEndpoint, Fallback
from modelward.serving.resilience import BreakerState
from tests.unit.features.conftest import make_stats_view, write_stats
from tests.unit.serving.conftest import (
    AUTH,
    TOKENS,
    GatewayFactory,
    World,
    row,
    run,
    serving,
    spec,
)

URL = "/v1/endpoints/m/predict"


def _broken(name: str, version: int = 1) -> BrokenEndpoint:
    now = datetime.now(UTC)
    return BrokenEndpoint(
        name, version, "fallback: response: nan is not a finite number", "old", now, "old", now
    )


def test_a_broken_stored_definition_is_named_in_readyz_and_stops_no_other_endpoint(
    make_gateway: GatewayFactory, world: World
) -> None:
    world.endpoints["legacy"] = _broken("legacy")

    async def scenario() -> list[Any]:
        gateway = make_gateway()
        async with serving(gateway) as http:  # start-up itself does not fail
            ok = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            legacy = await http.post(
                "/v1/endpoints/legacy/predict", json={"inputs": row()}, headers=AUTH
            )
            ready = await http.get("/readyz")
            # a served endpoint whose stored row turns unreadable keeps its loaded runtime
            world.endpoints["m"] = _broken("m", 2)
            await gateway._poll_once()
            still = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            again = await http.get("/readyz")
            return [ok, legacy, ready, still, again]

    ok, legacy, ready, still, again = run(scenario())
    assert ok.status_code == 200
    assert legacy.status_code == 404
    assert ready.status_code == 503
    assert "invalid stored definition" in ready.json()["problems"]["legacy"]
    assert still.status_code == 200 and still.json()["model_version"] == "3"
    assert "invalid stored definition" in again.json()["warnings"]["m"]
    assert again.json()["endpoints"]["m"]["config_version"] == 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Database:
    """The token table behind a switch: up, or gone (a driver error, as SQLite raises)."""

    def __init__(self) -> None:
        self.down = False
        self.checks = 0

    def authenticate(self, token: str) -> Principal:
        self.checks += 1
        if self.down:
            raise OSError("unable to open database file")
        try:
            return TOKENS[token]
        except KeyError:
            raise Unauthenticated("the API token is not valid") from None


def test_tokens_verified_before_keep_working_through_a_database_outage_for_the_grace(
    make_gateway: GatewayFactory, world: World
) -> None:
    clock, db = Clock(), Database()
    bob = {"Authorization": "Bearer tok-bob"}

    async def scenario() -> dict[str, Any]:
        gateway = make_gateway()
        gateway.verifier = TokenVerifier(
            db.authenticate, ttl_s=30, grace_s=600, retry_s=5, clock=clock
        )
        seen: dict[str, Any] = {}
        async with serving(gateway) as http:
            seen["before"] = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            db.down = True
            world.fail_endpoints = True
            await gateway._poll_once()
            clock.now += 31  # the token cache expired: the database is asked, and is gone
            seen["during"] = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            seen["again"] = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            seen["checks"] = db.checks
            seen["never_seen"] = await http.post(URL, json={"inputs": row()}, headers=bob)
            seen["ready"] = await http.get("/readyz")
            clock.now += 600  # past the grace: no longer vouched for
            seen["after_grace"] = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            db.down = False
            world.fail_endpoints = False
            await gateway._poll_once()
            seen["back"] = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            seen["ready_back"] = await http.get("/readyz")
        return seen

    seen = run(scenario())
    assert seen["before"].status_code == 200
    assert seen["during"].status_code == 200 and seen["again"].status_code == 200
    assert seen["checks"] == 2  # one retry per retry_s, not one query per request
    assert seen["never_seen"].status_code == 503
    assert seen["never_seen"].json()["error"] == "StoreUnavailable"
    assert seen["ready"].status_code == 503
    problem = seen["ready"].json()["problems"]["database"]
    assert "token checks" in problem and "endpoint refresh" in problem
    assert seen["after_grace"].status_code == 503
    assert seen["back"].status_code == 200
    assert seen["ready_back"].status_code == 200


def test_a_refused_token_stays_refused_and_secrets_stay_out_of_the_problem() -> None:
    clock, db = Clock(), Database()
    verifier = TokenVerifier(db.authenticate, ttl_s=30, grace_s=600, clock=clock)

    async def scenario() -> list[Any]:
        out: list[Any] = []
        for token in ("nope", "nope"):
            try:
                out.append(await verifier.principal(f"Bearer {token}"))
            except (Unauthenticated, StoreUnavailable) as exc:
                out.append(exc)
            db.down = True
            clock.now += 31
        return out

    first, second = run(scenario())
    assert isinstance(first, Unauthenticated) and isinstance(second, Unauthenticated)
    assert verifier.database_problem is not None
    assert "nope" not in verifier.database_problem and "OSError" in verifier.database_problem


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

"""A broken stored endpoint definition: named in ``/readyz``, the last good runtime of the
others untouched.

#15.2: one unreadable endpoint once stopped every gateway from (re)loading.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelward.serving.endpoints import BrokenEndpoint
from tests.unit.serving.support import (
    AUTH,
    GatewayFactory,
    World,
    row,
    run,
    serving,
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

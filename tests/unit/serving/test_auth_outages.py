"""The gateway's token checks through a metadata database outage: tokens verified before keep
working for the grace period, a refused token stays refused, and no secret reaches the problem
document.

#15.3: once the token cache expired, a database outage turned every request into a 500
while /readyz said ready.
"""

from __future__ import annotations

from typing import Any

from modelward.errors import StoreUnavailable, Unauthenticated
from modelward.security.roles import Principal
from modelward.serving.auth import TokenVerifier
from tests.unit.serving.support import (
    AUTH,
    TOKENS,
    GatewayFactory,
    World,
    row,
    run,
    serving,
)

URL = "/v1/endpoints/m/predict"


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

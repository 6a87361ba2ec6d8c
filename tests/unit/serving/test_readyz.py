"""``/readyz``: ready only when started, every definition loaded, the metadata database
readable and the online store answering; each problem named, an endpoint whose model did
not load listed as served by its fallback."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from modelward.serving.readyz import readiness


@dataclass
class Model:
    name: str
    version: str


@dataclass
class Runtime:
    model: Model
    config_version: int = 1
    uses_features: bool = False
    unavailable: bool = False


@dataclass
class Cache:
    runtimes: dict[str, Runtime] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)
    load_s: float = 0.0


@dataclass
class Verifier:
    database_problem: str | None = None


@dataclass
class Gateway:
    """What readiness reads of a gateway, and nothing else."""

    cache: Cache
    verifier: Verifier = field(default_factory=Verifier)
    ready: bool = True
    refresh_problem: str | None = None
    feature_probe: Any = None
    startup_s: float = 1.5


def check(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    return asyncio.run(readiness(gateway))


def test_a_started_gateway_with_every_endpoint_loaded_is_ready() -> None:
    cache = Cache({"churn": Runtime(Model("churn", "3"), config_version=4)}, load_s=1.2)
    status, body = check(Gateway(cache))
    assert status == 200 and body["status"] == "ready" and body["problems"] == {}
    assert body["endpoints"] == {
        "churn": {"model": "churn", "model_version": "3", "config_version": 4}
    }
    assert body["startup_s"] == 1.5 and body["ready_after_load_s"] == 0.3


def test_each_problem_is_named_and_makes_it_not_ready() -> None:
    cache = Cache(
        {"churn": Runtime(Model("churn", "3"), unavailable=True)},
        failed={"fraud": "definition: model 'fraud' is not registered"},
        stale={"churn": "the newest definition could not be loaded"},
    )
    gateway = Gateway(
        cache,
        Verifier("token check: cannot reach the metadata database"),
        ready=False,
        refresh_problem="refresh: cannot reach the metadata database",
    )
    status, body = check(gateway)
    assert status == 503 and body["status"] == "not ready"
    assert body["problems"]["fraud"] == "definition: model 'fraud' is not registered"
    assert body["problems"]["gateway"] == "starting or stopping"
    assert body["problems"]["database"] == (
        "refresh: cannot reach the metadata database; "
        "token check: cannot reach the metadata database"
    )
    assert body["endpoints"]["churn"]["serving"] == "fallback"
    assert body["warnings"] == {"churn": "the newest definition could not be loaded"}


def test_an_online_store_that_fails_or_hangs_is_named_only_when_features_are_read() -> None:
    def broken() -> None:
        raise ConnectionError("redis at cache:6379 refused")

    reads = Cache({"churn": Runtime(Model("churn", "3"), uses_features=True)})
    status, body = check(Gateway(reads, feature_probe=broken))
    assert status == 503
    assert body["problems"]["feature_store"] == "ConnectionError: redis at cache:6379 refused"
    no_features = Cache({"churn": Runtime(Model("churn", "3"))})
    assert check(Gateway(no_features, feature_probe=broken))[0] == 200


def test_a_hung_online_store_is_not_ready_at_the_probes_deadline_not_a_hang() -> None:
    release = threading.Event()

    def hung() -> None:
        release.wait(30)  # a store that never answers, until the test lets it go

    reads = Cache({"churn": Runtime(Model("churn", "3"), uses_features=True)})
    loop = asyncio.new_event_loop()
    try:
        status, body = loop.run_until_complete(readiness(Gateway(reads, feature_probe=hung)))
    finally:
        release.set()
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    assert status == 503 and body["problems"]["feature_store"].startswith("TimeoutError")

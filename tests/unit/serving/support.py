"""A gateway wired with fakes (static resolver, in-memory models, sinks and feature store).

Imported by the serving tests and by tests elsewhere that need the same gateway; the
fixtures here are registered for tests/unit/serving by its conftest.py, which only
imports them (a conftest is not imported as a module, so pytest alone decides when it loads).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from modelward.config.settings import ServingSettings
from modelward.errors import Unauthenticated
from modelward.monitoring.predictions import PredictionLogWriter
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.security.roles import Principal, Role
from modelward.serving.auth import TokenVerifier
from modelward.serving.binding import model_columns
from modelward.serving.config_cache import EndpointCache, Sources
from modelward.serving.endpoints import BrokenEndpoint, Endpoint, EndpointSpec
from modelward.serving.gateway import Gateway
from modelward.serving.metrics import GatewayMetrics
from modelward.serving.models import (
    LoadedModel,
    ObjectModelLoader,
    ResolvedModel,
    StaticModelResolver,
    load_object,
)
from modelward.serving.runtime import EndpointRuntime
from modelward.serving.schema import RequestSchema

T = TypeVar("T")
FIELDS = {f"f{i}": "float" for i in range(4)}
TOKENS = {
    "tok-alice": Principal("alice", Role.DEVELOPER),
    "tok-bob": Principal("bob", Role.VIEWER),
}
AUTH = {"Authorization": "Bearer tok-alice"}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def row(value: float = 0.5) -> dict[str, float]:
    return {name: value for name in FIELDS}


@pytest.fixture(scope="session")
def classifier() -> GradientBoostingClassifier:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    return GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(x, y)


class RaisingModel:
    """Fails on every call after warm-up (a warm-up failure would stop the load itself)."""

    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, x: Any) -> Any:
        self.calls += 1
        if self.calls > 6:  # the warm-up calls
            raise ValueError("boom: the model is broken")
        return np.tile([0.5, 0.5], (len(x), 1))


class SleepyModel:
    """Sleeps ``seconds`` per call once ``armed`` (warm-up at load stays fast).

    Once armed it records what it was asked (``rows``, the largest batch) and sets
    ``finished`` when a call has returned, so tests assert the mechanism (the deadline
    answered before the model finished, refused requests were never scored), not time.
    """

    classes_ = np.array([0, 1])

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = threading.Event()
        self.finished = threading.Event()
        self.rows = 0
        self.largest_batch = 0
        self._lock = threading.Lock()

    def predict_proba(self, x: Any) -> Any:
        if self.armed.is_set():
            with self._lock:
                self.rows += len(x)
                self.largest_batch = max(self.largest_batch, len(x))
            time.sleep(self.seconds)
            self.finished.set()
        return np.tile([0.25, 0.75], (len(x), 1))


class ConstantModel:
    classes_ = np.array([0, 1])

    def __init__(self, p: float) -> None:
        self.p = p

    def predict_proba(self, x: Any) -> Any:
        return np.tile([1 - self.p, self.p], (len(x), 1))


class World:
    """The state a gateway reads: endpoint rows, models, tokens; tests change it."""

    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint | BrokenEndpoint] = {}
        self.models: dict[str, ResolvedModel] = {}
        self.fail_endpoints = False

    def put(self, spec: EndpointSpec) -> None:
        old = self.endpoints.get(spec.name)
        now = datetime.now(UTC)
        version = old.config_version + 1 if old else 1
        self.endpoints[spec.name] = Endpoint(spec, version, "t", now, "t", now)

    def model(self, ref: str, obj: Any, version: str = "1") -> None:
        self.models[ref] = ResolvedModel(ref.split("@")[0], version, f"mem://{ref}", obj)

    def load(self) -> list[Endpoint | BrokenEndpoint]:
        if self.fail_endpoints:
            raise ConnectionError("metadata database unreachable")
        return list(self.endpoints.values())


def authenticate(token: str) -> Principal:
    try:
        return TOKENS[token]
    except KeyError:
        raise Unauthenticated("the API token is not valid") from None


def spec(name: str = "m", model: str = "m@production", **kw: Any) -> EndpointSpec:
    # a generous budget unless a test is about the budget: a full garbage collection of
    # the test process (gc is not frozen here) can pause a thread for 100 ms
    kw.setdefault("latency_budget_ms", 5_000)
    return EndpointSpec(name=name, model=model, request=kw.pop("request", FIELDS), **kw)


@pytest.fixture
def world(classifier: GradientBoostingClassifier) -> World:
    w = World()
    w.model("m@production", classifier, "3")
    w.put(spec())
    return w


@pytest.fixture
def sink() -> MemoryPredictionSink:
    return MemoryPredictionSink()


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def make_gateway(world: World, sink: MemoryPredictionSink) -> GatewayFactory:

    def make(lookup: Any = None, loader: Any = None, **settings: Any) -> Gateway:
        conf = ServingSettings(
            **{"access_log": False, "gc_freeze": False, "poll_interval_s": 3600, **settings}
        )
        metrics = GatewayMetrics()
        sources = Sources(
            load_endpoints=world.load,
            resolver=StaticModelResolver(world.models),
            loader=loader or ObjectModelLoader(),
            lookup=(lambda: lookup) if lookup is not None else None,
        )
        gateway = Gateway(
            conf,
            EndpointCache(sources, metrics),
            TokenVerifier(authenticate, ttl_s=60),
            PredictionLogWriter(sink, flush_interval_s=0.01),
            metrics,
        )
        return gateway

    return make


def client(gateway: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway")


async def started(gateway: Gateway) -> Gateway:
    await gateway.startup()
    return gateway


class serving:
    """Start the gateway, hand out an HTTP client, and shut down (flushing the log) after."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._client = client(gateway)

    async def __aenter__(self) -> httpx.AsyncClient:
        await self.gateway.startup()
        return await self._client.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        await self._client.__aexit__(None, None, None)
        await self.gateway.shutdown()


def endpoint_runtime(
    model: Any, version: str = "1", *, fallback_model: Any = None, **spec_kw: Any
) -> EndpointRuntime:
    """One endpoint's runtime scoring ``model`` in process (inline: no batcher thread unless
    the spec asks for one), for tests of what the gateway does around a model call."""
    spec_kw.setdefault("batching", False)
    spec_kw.setdefault("isolate_model", False)
    endpoint = spec(**spec_kw)
    columns = model_columns(endpoint, FIELDS, [])

    def load(obj: Any, name: str, v: str) -> LoadedModel:
        return load_object(obj, name=name, version=v, uri="mem", output="auto", columns=columns)

    backup = load(fallback_model, "m-backup", "9") if fallback_model is not None else None
    return EndpointRuntime(
        endpoint,
        1,
        load(model, "m", version),
        columns,
        RequestSchema("m", endpoint.request, 10),
        fallback_model=backup,
    )

"""The online inference gateway: a bare ASGI application, served by uvicorn.

Routes: ``POST /v1/endpoints/{name}/predict``, ``GET /healthz``, ``GET /readyz``,
``GET /metrics`` and ``GET /openapi.json`` (:mod:`~modelward.serving.openapi`). A bare
ASGI callable rather than a framework: routing is a few string tests, and every
microsecond a framework spends per request is one the model cannot. Other routes are
mounted (:meth:`Gateway.mount`, one :class:`MountedRoute` kind for all): the async job
routes (:mod:`~modelward.serving.jobs.routes`) and other protocols' routes, which score
through :meth:`Gateway.predict` in their own :class:`~modelward.serving.dialect.Dialect`.
Each mounted route also declares its paths in the gateway's OpenAPI document.

A prediction goes: token (cached) -> endpoint runtime (cached) -> caller allowed -> body
read under the size limit (413) and the body deadline (408) -> concurrency slot (503 +
Retry-After when none) -> schema check (400/422) -> breakers -> features + model (on the
endpoint's thread, or on the event loop with ``isolate_model: false``; see
:mod:`~modelward.serving.runtime`) under the latency budget -> respond. On a timeout, an
error or an open breaker the fallback answers with ``"degraded": true``. The prediction
log and the access log are queued for background threads; nothing on this path touches
the metadata database or a disk.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import orjson

from modelward.config import ServingSettings
from modelward.errors import (
    InternalError,
    MethodNotAllowed,
    ModelUnavailable,
    ModelwardError,
    NotFound,
    Overloaded,
    RequestInvalid,
    RequestTimeout,
)
from modelward.monitoring import PredictionLogWriter
from modelward.rollout import Route
from modelward.serving.accesslog import AccessLog
from modelward.serving.answers import Answer
from modelward.serving.auth import TokenVerifier, may_call
from modelward.serving.config_cache import EndpointCache
from modelward.serving.dialect import NATIVE, Dialect, HttpRequest, Parsed
from modelward.serving.intake import ClientGone, read_body
from modelward.serving.metrics import CONTENT_TYPE, EndpointMetrics, GatewayMetrics
from modelward.serving.openapi import GatewayDocument
from modelward.serving.problems import respond
from modelward.serving.readyz import readiness
from modelward.serving.resilience import ConcurrencyLimit
from modelward.serving.routing import (
    SHADOW_CAPACITY,
    ShadowScorer,
    failure_records,
    rejection_records,
    smoke_route,
)
from modelward.serving.runtime import (
    EndpointRuntime,
    Scored,
)
from modelward.serving.scoring_core import answer_rows_of, score_rows

__all__ = ["Gateway", "MountedRoute", "Service"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_log = logging.getLogger("modelward.serving")
_PREFIX = "/v1/endpoints/"
_SUFFIX = "/predict"
#: the routes that only read (any other method is 405, as the OpenAPI document declares)
_READ_ROUTES = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
_JSON = [(b"content-type", b"application/json")]
#: response cache entries per endpoint; the cache is emptied when full (cheap, bounded)
_CACHE_ENTRIES = 10_000


class MountedRoute(Protocol):
    """Routes mounted on the gateway beside its own (``Gateway.mount``): the async job
    routes, the Open Inference Protocol's, MLflow's scoring routes."""

    async def __call__(self, gateway: Gateway, request: HttpRequest) -> bool:
        """Answer ``request`` and return True, or return False: not one of these paths."""
        ...

    def openapi_paths(self, runtimes: Mapping[str, EndpointRuntime]) -> dict[str, Any]:
        """The OpenAPI path items of these routes for the endpoints in ``runtimes``."""
        ...

    def close(self) -> None:
        """At shutdown, after requests drained."""
        ...


class Service(Protocol):
    """Something that runs beside the HTTP server for the gateway's life (the gRPC port)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Gateway:
    """The ASGI application. Wired by :func:`modelward.serving.app.create_gateway` for a
    workspace, or by hand with fakes (tests); ``startup``/``shutdown`` run on lifespan."""

    def __init__(
        self,
        settings: ServingSettings,
        cache: EndpointCache,
        verifier: TokenVerifier,
        writer: PredictionLogWriter,
        metrics: GatewayMetrics,
        *,
        access_log: AccessLog | None = None,
        on_close: Callable[[], None] | None = None,
        feature_probe: Callable[[], None] | None = None,
        tracer_provider: Any = None,
        shadow_capacity: int = SHADOW_CAPACITY,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.verifier = verifier
        self.writer = writer
        self.metrics = metrics
        self.access_log = access_log
        self._on_close = on_close
        self.feature_probe = feature_probe
        self.limit = ConcurrencyLimit(settings.max_concurrency)
        #: shadow copies of a release, scored after the answer is sent (bounded)
        self.shadows = ShadowScorer(metrics.registry, shadow_capacity)
        self.ready = False
        #: seconds start-up took: endpoints read, models loaded and warmed up
        self.startup_s = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._id_prefix = os.urandom(5).hex()
        self._id_next = 0
        self._em: dict[tuple[str, str], EndpointMetrics] = {}
        #: why the last endpoint refresh could not read the metadata database, if it failed
        self.refresh_problem: str | None = None
        self._tracer: Any = None
        self._routes: list[MountedRoute] = []
        self.openapi = GatewayDocument(self._routes)
        self._services: list[Service] = []
        if settings.tracing:
            from opentelemetry import trace

            self._tracer = trace.get_tracer("modelward.serving", tracer_provider=tracer_provider)

    def mount(self, route: MountedRoute) -> None:
        """Serve ``route``'s paths (asked in mount order, after the gateway's own routes,
        before the 404) and publish them in ``/openapi.json``."""
        self._routes.append(route)
        self.openapi.forget()

    def attach(self, service: Service) -> None:
        """Start ``service`` once the gateway is ready, stop it first at shutdown."""
        self._services.append(service)

    # --- lifecycle -------------------------------------------------------------------

    async def startup(self) -> None:
        """Load every endpoint, start the background work; serving may begin afterwards."""
        began = time.perf_counter()
        await self.refresh()
        self.writer.start()
        self._tasks = [
            asyncio.create_task(self._poll(), name="endpoint-refresh"),
            asyncio.create_task(self._sync_gauges(), name="gauges"),
        ]
        for service in self._services:
            await service.start()
        self.ready = True
        self.startup_s = time.perf_counter() - began
        if self.settings.gc_freeze:
            # everything loaded so far lives as long as the process: stop rescanning it
            gc.collect()
            gc.freeze()

    async def shutdown(self) -> None:
        """After uvicorn drained in-flight requests: stop workers, flush the prediction log."""
        self.ready = False
        for service in self._services:
            await service.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.shadows.close()
        for route in self._routes:
            await asyncio.to_thread(route.close)
        runtimes = list(self.cache.runtimes.values())
        runtimes += [routing.candidate for routing in self.cache.routings.values()]
        await asyncio.to_thread(_close_all, runtimes)
        lost = await asyncio.to_thread(self.writer.close, self.settings.graceful_timeout_s)
        if lost:
            _log.error("prediction log: %d records could not be written before shutdown", lost)
        self._sync_log_metrics()
        if self.access_log is not None:
            self.access_log.close()
        if self._on_close is not None:
            self._on_close()

    async def refresh(self) -> None:
        """Rebuild what changed (on a thread) and swap it in at once."""
        fresh, retired = await asyncio.to_thread(self.cache.build)
        # no await between the two: a request sees both old or both new
        self.cache.runtimes, self.cache.routings = fresh, self.cache.next_routings
        if retired:
            # requests holding a retired runtime were queued before the swap: drain, then stop
            await asyncio.to_thread(_close_all, retired)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_interval_s)
            await self._poll_once()

    async def _poll_once(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # database down: keep serving what is loaded
            self.metrics.reload_errors.labels("").inc()
            why = exc.message if isinstance(exc, ModelwardError) else type(exc).__name__
            self.refresh_problem = f"endpoint refresh cannot read the metadata database: {why}"
            _log.warning("endpoint refresh failed, serving the loaded config: %s", why)
        else:
            self.refresh_problem = None

    async def _sync_gauges(self) -> None:
        while True:
            self._sync_log_metrics()
            await asyncio.sleep(1.0)

    def _sync_log_metrics(self) -> None:
        w = self.writer
        self.metrics.sync_log(w.depth, w.dropped, w.written, w.quarantined, w.write_errors)
        self.metrics.in_flight.set(self.limit.in_flight)
        for name, rt in self.cache.runtimes.items():
            self.metrics.breaker.labels(name, "model").set(int(rt.model_breaker.state))
            self.metrics.breaker.labels(name, "features").set(int(rt.feature_breaker.state))

    # --- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    _log.error("gateway start-up failed: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def next_request_id(self, given: bytes | None) -> str:
        """The id of a new request: the one the caller gave (bounded), or a fresh one."""
        if given:
            return given.decode("latin-1")[:128]
        self._id_next += 1
        return f"{self._id_prefix}{self._id_next:x}"

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        authorization = given_id = length = arm = content_type = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"x-request-id":
                given_id = value
            elif key == b"content-length":
                length = value
            elif key == b"x-modelward-arm":
                arm = value.decode("latin-1")
            elif key == b"content-type":
                content_type = value
        request_id = self.next_request_id(given_id)
        if path.startswith(_PREFIX) and path.endswith(_SUFFIX):
            if scope["method"] != "POST":
                await self._problem(
                    send,
                    MethodNotAllowed(f"{path[:100]} accepts POST only"),
                    request_id,
                    path,
                    started,
                    extra=[(b"allow", b"POST")],
                )
                return
            name = path[len(_PREFIX) : -len(_SUFFIX)]
            with self._span("gateway.request"):
                await self.predict(
                    name, authorization, length, receive, send, request_id, started, arm=arm
                )
        elif path in _READ_ROUTES and scope["method"] not in ("GET", "HEAD"):
            refused = MethodNotAllowed(f"{path} accepts GET only")
            allow = [(b"allow", b"GET, HEAD")]
            await self._problem(send, refused, request_id, path, started, extra=allow)
        elif path == "/healthz":
            await respond(send, 200, b'{"status":"alive"}', _JSON, request_id)
        elif path == "/readyz":
            await self._readyz(send, request_id)
        elif path == "/openapi.json":
            await respond(send, 200, self.openapi.render(self.cache.runtimes), _JSON, request_id)
        elif path == "/metrics":
            self._sync_log_metrics()
            body = self.metrics.render()
            await respond(send, 200, body, [(b"content-type", CONTENT_TYPE.encode())], request_id)
        else:
            request = HttpRequest(
                path,
                scope["method"],
                authorization,
                length,
                content_type,
                request_id,
                started,
                receive,
                send,
                scope["headers"],
            )
            for route in self._routes:
                if await route(self, request):
                    return
            await self._problem(
                send, NotFound(f"no route {path[:100]!r}"), request_id, path, started
            )

    async def _readyz(self, send: Send, request_id: str) -> None:
        status, body = await readiness(self)
        await respond(send, status, orjson.dumps(body), _JSON, request_id)

    async def predict(
        self,
        name: str,
        authorization: str | None,
        length: bytes | None,
        receive: Receive,
        send: Send,
        request_id: str,
        started: float,
        *,
        dialect: Dialect = NATIVE,
        version: str | None = None,
        path: str | None = None,
        arm: str | None = None,
    ) -> None:
        """Score one request to endpoint ``name``, spoken in ``dialect``, and answer it.

        Every protocol comes through here. ``version``, when given, must be the model
        version the endpoint serves (404 otherwise); such a pinned request is not split
        by a running release, since it asked for one version."""
        path = path or f"{_PREFIX}{name}{_SUFFIX}"
        runtime: EndpointRuntime | None = None
        holding = False
        try:
            principal = await self.verifier.principal(authorization)
            runtime = self.cache.runtimes.get(name)
            if runtime is None:
                raise NotFound(f"endpoint {name[:60]!r} is not served here", endpoint=name[:60])
            may_call(principal, runtime.spec)
            if version is not None and version != runtime.model.version:
                raise NotFound(
                    f"endpoint {name!r} serves model version {runtime.model.version!r}, "
                    f"not {version[:40]!r}",
                    endpoint=name,
                )
            # the body is read before a scoring slot is taken, under its own deadline: a
            # slow or stalled client holds a socket, never one of max_concurrency slots
            body = await read_body(
                receive, length, self.settings.max_body_bytes, self.settings.body_timeout_s
            )
            if not self.limit.try_acquire():
                await self._overloaded(send, name, request_id, path, started, dialect)
                return
            holding = True
            # the runtime may have been swapped while the body was read: use the newest
            runtime = self.cache.runtimes.get(name)
            if runtime is None:
                raise NotFound(f"endpoint {name[:60]!r} was removed", endpoint=name[:60])
            routing = self.cache.routings.get(name) if version is None else None
            with self._span("validate"):
                try:
                    parsed = dialect.parse(runtime, body)
                except RequestInvalid as exc:  # logged: the staging gate counts refusals
                    ms = (time.perf_counter() - started) * 1000.0
                    for record in rejection_records(runtime, routing, body, request_id, ms, exc):
                        self.writer.submit(record)
                    raise
            rows = parsed.rows
            route: Route | None = None
            if arm is not None:  # a smoke test: the candidate answers (operators only)
                route = smoke_route(routing, arm, principal, name)
                runtime = routing.candidate if routing is not None else runtime
            elif routing is not None:  # a release splits this endpoint: rollout decides
                route = routing.route(rows[0], request_id)
                if route.role == "candidate":
                    runtime = routing.candidate
            await self._serve(
                runtime, parsed, send, request_id, started, route, dialect=dialect, path=path
            )
            if route is not None and route.shadow is not None and routing is not None:
                # the answer is sent: the copy costs the caller nothing
                self.shadows.offer(
                    routing.candidate, rows, request_id, route.release_id, self.writer.submit
                )
        except ClientGone:
            return
        except ModelwardError as exc:
            self.metrics.errors.labels(name if runtime else "", type(exc).__name__).inc()
            extra = [(b"connection", b"close")] if isinstance(exc, RequestTimeout) else None
            await self._problem(
                send, exc, request_id, path, started, endpoint=name, extra=extra, dialect=dialect
            )
        except Exception as exc:  # a bug: answer 500 without internals, log the cause
            _log.exception("request %s failed", request_id)
            label = runtime.spec.name if runtime is not None else ""
            self.metrics.errors.labels(label, type(exc).__name__).inc()
            failed = InternalError(
                "the gateway failed on this request; it is logged with its request id"
            )
            await self._problem(
                send, failed, request_id, path, started, endpoint=name, dialect=dialect
            )
        finally:
            if holding:
                self.limit.release()

    async def _overloaded(
        self,
        send: Send,
        name: str,
        request_id: str,
        path: str,
        started: float,
        dialect: Dialect = NATIVE,
    ) -> None:
        known = name if name in self.cache.runtimes else ""  # no label per unknown path
        self.metrics.errors.labels(known, "Overloaded").inc()
        await self._problem(
            send,
            Overloaded(f"over {self.settings.max_concurrency} requests in flight; retry shortly"),
            request_id,
            path,
            started,
            extra=[(b"retry-after", str(Overloaded.retry_after_s).encode())],
            dialect=dialect,
        )

    async def _serve(
        self,
        runtime: EndpointRuntime,
        parsed: Parsed,
        send: Send,
        request_id: str,
        started: float,
        route: Route | None = None,
        *,
        dialect: Dialect = NATIVE,
        path: str = "",
    ) -> None:
        spec = runtime.spec
        rows = parsed.rows
        cache = runtime.response_cache if spec.cache_ttl_s else None
        key = None
        scored: Scored | None = None
        reason: str | None = None
        if cache is not None:
            key = orjson.dumps(rows)
            hit = cache.get(key)
            if hit is not None and hit[0] > time.monotonic():
                scored = hit[1]
        if scored is None:
            with self._span("predict"):
                scored, reason = await score_rows(runtime, rows, self._tracer)
            # only a complete answer is reused: a missing entity may have features soon
            if scored is not None and scored.reasons is None and cache is not None and key:
                if len(cache) >= _CACHE_ENTRIES:
                    cache.clear()
                cache[key] = (time.monotonic() + spec.cache_ttl_s, scored)
        try:
            answer = await answer_rows_of(runtime, rows, scored, reason, self.metrics)
        except ModelUnavailable as exc:
            if route is not None:  # the release's judge counts the arm's errors
                elapsed_ms = (time.perf_counter() - started) * 1000.0
                for record in failure_records(
                    runtime, request_id, rows, elapsed_ms, route, type(exc).__name__
                ):
                    self.writer.submit(record)
            raise
        # feature and model timings are observed once per batch, by the runtime
        payload = answer.payload(request_id, spec.name, parsed.batch)
        version = payload["model_version"] or runtime.model.version
        em = self._endpoint_metrics(spec.name, version)
        await respond(send, 200, dialect.render(payload, parsed), dialect.headers, request_id)
        elapsed = time.perf_counter() - started
        em.latency.observe(elapsed)
        em.ok.inc()
        answer.log(
            self.writer.submit,
            request_id=request_id,
            at_us=time.time_ns() // 1000,
            endpoint=spec.name,
            latency_ms=elapsed * 1000.0,
            pii=runtime.pii_fields or spec.pii_fields,
            role=route.role if route is not None else None,
            release_id=route.release_id if route is not None else "",
        )
        if self.access_log is not None:
            self.access_log.log(
                request_id,
                "POST",
                path or f"{_PREFIX}{spec.name}{_SUFFIX}",
                200,
                elapsed,
                spec.name,
                version,
                answer.degraded,
            )

    async def answer_rows(
        self, name: str, rows: list[dict[str, Any]], request_id: str
    ) -> tuple[EndpointRuntime, Answer, Route | None]:
        """What the predict route answers for validated ``rows``, without a request: the
        same release routing, features, model, breakers and fallbacks (async jobs use it).
        Raises :class:`NotFound` for an endpoint not served here, :class:`ModelUnavailable`
        when neither the model nor the fallback can answer."""
        runtime = self.cache.runtimes.get(name)
        if runtime is None:
            raise NotFound(f"endpoint {name[:60]!r} is not served here", endpoint=name[:60])
        route: Route | None = None
        routing = self.cache.routings.get(name)
        if routing is not None:
            route = routing.route(rows[0], request_id)
            if route.role == "candidate":
                runtime = routing.candidate
        scored, reason = await score_rows(runtime, rows, self._tracer)
        return runtime, await answer_rows_of(runtime, rows, scored, reason, self.metrics), route

    def _endpoint_metrics(self, endpoint: str, version: str) -> EndpointMetrics:
        em = self._em.get((endpoint, version))
        if em is None:
            em = self._em[(endpoint, version)] = self.metrics.bind(endpoint, version)
        return em

    def _span(self, name: str) -> AbstractContextManager[Any]:
        if self._tracer is None:
            return nullcontext()
        span: AbstractContextManager[Any] = self._tracer.start_as_current_span(name)
        return span

    async def _problem(
        self,
        send: Send,
        exc: ModelwardError,
        request_id: str,
        path: str,
        started: float,
        *,
        endpoint: str | None = None,
        extra: list[tuple[bytes, bytes]] | None = None,
        dialect: Dialect = NATIVE,
    ) -> None:
        body, headers = dialect.problem(exc, request_id)
        await respond(send, exc.http_status, body, headers + (extra or []), request_id)
        if self.access_log is not None:
            self.access_log.log(
                request_id,
                "POST" if endpoint else "GET",
                path,
                exc.http_status,
                time.perf_counter() - started,
                endpoint,
                None,
                None,
                type(exc).__name__,
            )


def _close_all(runtimes: list[EndpointRuntime]) -> None:
    for runtime in runtimes:
        runtime.close()

"""``stream_score``: one endpoint definition consuming a stream, wired from URLs.

The endpoint is resolved once, at the start, like a batch run: its model version is
pinned and recorded (a stage that moves later is picked up by restarting the consumer).

Example::

    result = mw.serving.stream_score(
        "churn",
        "redis://127.0.0.1:6379/0?stream=events&group=scorers",
        "redis://127.0.0.1:6379/0?stream=scores",
        until_idle=True,
    )
    result.scored, result.dead_lettered
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from modelward.errors import InputError
from modelward.monitoring import PredictionSink
from modelward.security import Permission, Principal
from modelward.serving.batch_parts import PartFeatures as _Features
from modelward.serving.binding import model_columns
from modelward.serving.endpoints import EndpointSpec, get_endpoint
from modelward.serving.models import ModelLoader, ModelResolver
from modelward.serving.streaming.addresses import open_dead_letter, open_stream
from modelward.serving.streaming.consumer import Retry, StreamConsumer, StreamCounts
from modelward.serving.streaming.metrics import StreamMetrics
from modelward.serving.streaming.scoring import MicroBatchScorer

if TYPE_CHECKING:
    from modelward.features import Catalog
    from modelward.session import Session

__all__ = ["StreamResult", "stream_score"]


@dataclass(frozen=True)
class StreamResult:
    """What a consumer did before it stopped."""

    endpoint: str
    model: str
    model_version: str
    source: str
    sink: str
    dead_letter: str
    events: int
    scored: int
    dead_lettered: int
    duplicates: int
    redelivered: int
    batches: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _spec(
    session: Session | None, target: str | EndpointSpec, actor: Principal | None
) -> EndpointSpec:
    if isinstance(target, EndpointSpec):
        spec = target
    else:
        if session is None:
            raise InputError("streaming an endpoint by name needs a workspace session")
        if actor is not None:
            actor.require(Permission.ENDPOINTS_READ)
        spec = get_endpoint(session, target).spec
    if isinstance(spec.request, str):
        raise InputError(
            f"endpoint {spec.name!r} takes its request from the model's signature "
            "(request: from_signature), which streaming does not read yet; write the "
            "request fields",
            field="request",
        )
    return spec


@contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (the batches in flight are finished first)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def stream_score(
    target: str | EndpointSpec,
    source: str,
    sink: str,
    *,
    dead_letter: str | None = None,
    session: Session | None = None,
    actor: Principal | None = None,
    batch_size: int = 500,
    max_in_flight: int = 2,
    wait_s: float = 0.2,
    until_idle: bool = False,
    stop: threading.Event | None = None,
    retry: Retry | None = None,
    metrics: StreamMetrics | None = None,
    metrics_port: int | None = None,
    resolver: ModelResolver | None = None,
    loader: ModelLoader | None = None,
    catalog: Catalog | None = None,
    prediction_log: PredictionSink | None = None,
    on_batch: Callable[[StreamCounts], None] | None = None,
) -> StreamResult:
    """Consume ``source`` with ``target`` (an endpoint name or spec), outputs to ``sink``.

    ``source``/``sink``/``dead_letter`` are stream URLs (``redis://...?stream=events&group=g``,
    ``nats://...?subject=events&group=g``); the dead-letter stream defaults to the
    source's own with a ``-dead`` (Redis) or ``.dead`` (NATS) suffix. Runs until ``stop``
    is set, SIGTERM or SIGINT (in the main thread), or with ``until_idle`` a read that
    finds nothing. ``metrics_port`` serves the Prometheus metrics over HTTP.
    """
    began = time.perf_counter()
    for name, value, low in (("batch_size", batch_size, 1), ("max_in_flight", max_in_flight, 1)):
        if value < low:
            raise InputError(f"{name} must be at least {low}", field=name)
    if wait_s < 0:
        raise InputError("wait_s must not be negative", field="wait_s")
    # the URLs first: a typo is refused before a model is loaded (no connection is made yet)
    events_in = open_stream(source, "--source")
    outputs = open_stream(sink, "--sink")
    letters = (
        open_stream(dead_letter, "--dead-letter")
        if dead_letter is not None
        else open_dead_letter(source, "--source")
    )
    if session is None and (resolver is None or loader is None or prediction_log is None):
        from modelward.session import resolve_session

        session = resolve_session(session)
    spec = _spec(session, target, actor)
    assert not isinstance(spec.request, str)
    features = _Features(session, spec, catalog, None)
    columns = model_columns(spec, spec.request, features.names)
    unknown = [c for c in columns if c not in spec.request and c not in features.names]
    if unknown:
        raise InputError(
            f"model_inputs {', '.join(unknown)} are neither request fields nor features",
            field="model_inputs",
        )
    if resolver is None or loader is None:
        from modelward.serving.models import MlflowModelLoader, RegistryModelResolver

        assert session is not None
        resolver = resolver or RegistryModelResolver(session)
        loader = loader or MlflowModelLoader(session)
    resolved = resolver.resolve(spec.model)  # pinned for the consumer's life
    model = loader.load(resolved, spec.output, columns)
    scorer = MicroBatchScorer(spec, model, columns, features)

    closing: list[Any] = [events_in, outputs, letters]
    log_sink = prediction_log
    try:
        if log_sink is None:
            from modelward.monitoring import open_workspace_log

            assert session is not None
            log_sink = open_workspace_log(session)
            closing.append(log_sink)
        metrics = metrics or StreamMetrics(spec.name)
        server = None
        if metrics_port is not None:
            from prometheus_client import start_http_server

            server, _ = start_http_server(metrics_port, registry=metrics.registry)
        consumer = StreamConsumer(
            source=events_in,
            sink=outputs,
            dead_letter=letters,
            scorer=scorer,
            prediction_log=log_sink,
            metrics=metrics,
            batch_size=batch_size,
            wait_s=wait_s,
            max_in_flight=max_in_flight,
            retry=retry,
        )
        stop = stop or threading.Event()
        try:
            with _stopped_by_signals(stop):
                counts = consumer.run(stop, until_idle=until_idle, on_batch=on_batch)
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
        return StreamResult(
            endpoint=spec.name,
            model=model.name,
            model_version=model.version,
            source=events_in.label,
            sink=outputs.label,
            dead_letter=letters.label,
            events=counts.events,
            scored=counts.scored,
            dead_lettered=counts.dead_lettered,
            duplicates=counts.duplicates,
            redelivered=counts.redelivered,
            batches=counts.batches,
            seconds=time.perf_counter() - began,
        )
    finally:
        for opened in reversed(closing):
            opened.close()

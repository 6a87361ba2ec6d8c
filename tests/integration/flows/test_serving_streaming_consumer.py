"""Streaming inference end to end on the real servers: score, dead-letter, retry, stop.

In-process: a model that is a known function of its inputs, the gateway's in-memory
loader, the in-memory prediction log, a few dozen events per test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import pytest

from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving import EndpointSpec, StreamResult, stream_score
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.serving.streaming.addresses import open_stream
from modelward.serving.streaming.base import Event, EventSource, Message
from modelward.serving.streaming.consumer import Retry
from modelward.serving.streaming.metrics import StreamMetrics
from tests.integration.backends.streams import KINDS, Streams, streams_on

SPEC = EndpointSpec(
    name="sums",
    model="sums@production",
    request={"customer_id": "int", "a": "float", "b": "float", "email": "string"},
    model_inputs=["a", "b"],
    pii_fields=["email"],
)


class SumModel:
    """P(positive) = sigmoid(a + b); ``gate``, when set, holds the first call until opened."""

    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def predict_proba(self, x: Any) -> Any:
        if self.gate is not None and len(x) > 1:  # not the loader's one-row warm-up
            self.entered.set()
            self.gate.wait(30)
        p = 1 / (1 + np.exp(-x.sum(axis=1)))
        return np.column_stack([1 - p, p])


def sigmoid(a: float, b: float) -> float:
    return float(1 / (1 + np.exp(-(a + b))))


@pytest.fixture(params=KINDS)
def streams(request: pytest.FixtureRequest) -> Iterator[Streams]:
    yield from streams_on(request.param)


@pytest.fixture
def redis_streams() -> Iterator[Streams]:
    yield from streams_on("redis")


def event(i: int) -> dict[str, Any]:
    return {"customer_id": i, "a": i / 10, "b": -0.5, "email": f"c{i}@example.com", "ts": 1}


def produce(streams: Streams, name: str, bodies: Sequence[bytes], prefix: str = "e") -> None:
    sink = open_stream(streams.url(name), "--sink")
    try:
        sink.write([Message(f"{prefix}{i}", body) for i, body in enumerate(bodies)])
    finally:
        sink.close()


def read_back(streams: Streams, name: str) -> list[Event]:
    """Every message of stream ``name``, by a group of its own."""
    source = open_stream(streams.url(name, group="verify"), "--source")
    got: list[Event] = []
    try:
        while batch := source.read(1000, 0.3):
            got.extend(batch)
    finally:
        source.close()
    return got


def score(
    streams: Streams, model: SumModel | None = None, **kw: Any
) -> tuple[StreamResult, MemoryPredictionSink]:
    log = kw.pop("prediction_log", None) or MemoryPredictionSink()
    models = {"sums@production": ResolvedModel("sums", "3", "mem://sums/3", model or SumModel())}
    result = stream_score(
        SPEC,
        kw.pop("source", streams.url("events", group="scorers", consumer="c1")),
        streams.url("scores"),
        resolver=StaticModelResolver(models),
        loader=ObjectModelLoader(),
        prediction_log=log,
        batch_size=kw.pop("batch_size", 16),
        # until_idle stops at the first read that finds nothing within wait_s: long enough
        # that a loaded machine's slow NATS fetch is not taken for an empty stream
        wait_s=kw.pop("wait_s", 2.0),
        until_idle=kw.pop("until_idle", True),
        **kw,
    )
    return result, log


def test_every_event_is_scored_once_keyed_by_its_id_and_logged_as_stream(
    streams: Streams,
) -> None:
    produce(streams, "events", [orjson.dumps(event(i)) for i in range(40)])
    metrics = StreamMetrics("sums")

    result, log = score(streams, metrics=metrics)

    assert (result.events, result.scored, result.dead_lettered) == (40, 40, 0)
    shown = metrics.render().decode()
    assert 'modelward_stream_events_total{endpoint="sums",outcome="scored"} 40.0' in shown
    assert 'modelward_stream_batches_in_flight{endpoint="sums"} 0.0' in shown
    lags = 'modelward_stream_source_to_sink_seconds_count{endpoint="sums"}'
    assert f"{lags} {result.batches}.0" in shown  # one per batch
    assert result.model_version == "3"
    outputs = read_back(streams, "scores")
    assert [o.id for o in outputs] == [f"e{i}" for i in range(40)]
    bodies = [orjson.loads(o.payload) for o in outputs]
    assert [b["event_id"] for b in bodies] == [f"e{i}" for i in range(40)]
    assert [b["prediction"] for b in bodies] == pytest.approx(
        [sigmoid(i / 10, -0.5) for i in range(40)]
    )
    assert {(b["model"], b["model_version"], b["endpoint"]) for b in bodies} == {
        ("sums", "3", "sums")
    }
    records = log.read("sums")
    assert sorted(r.request_id for r in records) == sorted(f"e{i}" for i in range(40))
    assert {r.mode for r in records} == {"stream"}
    assert {r.inputs["email"] for r in records} == {"[redacted]"}

    again, _ = score(streams)  # everything was acknowledged: nothing is delivered again
    assert again.events == 0


def test_poison_events_are_dead_lettered_with_the_rule_and_the_consumer_goes_on(
    redis_streams: Streams,
) -> None:
    streams = redis_streams
    bodies = [
        orjson.dumps(event(0)),
        b"this is not JSON {",
        orjson.dumps({**event(2), "a": "high"}),
        orjson.dumps({k: v for k, v in event(3).items() if k != "b"}),
        b"[1, 2]",
        orjson.dumps(event(5)),
    ]
    produce(streams, "events", bodies)

    result, log = score(streams)

    assert (result.events, result.scored, result.dead_lettered) == (6, 2, 4)
    assert [o.id for o in read_back(streams, "scores")] == ["e0", "e5"]
    letters = {e.id: orjson.loads(e.payload) for e in read_back(streams, "events-dead")}
    assert sorted(letters) == ["e1", "e2", "e3", "e4"]
    assert letters["e1"]["reason"] == "not_json"
    assert "not valid JSON" in letters["e1"]["rule"]
    assert letters["e1"]["body"] == "this is not JSON {"
    assert (letters["e2"]["reason"], letters["e2"]["field"]) == ("schema", "a")
    assert "number" in letters["e2"]["rule"]
    assert "[redacted]" in letters["e2"]["body"] and "c2@example.com" not in letters["e2"]["body"]
    assert (letters["e3"]["field"], letters["e3"]["rule"]) == ("b", "is required")
    assert letters["e4"]["rule"] == "must be a JSON object"
    assert sorted(r.request_id for r in log.read("sums")) == ["e0", "e5"]
    assert score(streams)[0].events == 0  # the poison was acknowledged, not redelivered


def test_an_unreachable_redis_is_retried_after_growing_pauses_then_a_clear_error(
    redis_streams: Streams,
) -> None:
    pauses: list[float] = []
    metrics = StreamMetrics("sums")
    source = redis_streams.url("events", group="scorers", connect_timeout_s=0.5)
    source = source.replace(":6379", ":1")

    with pytest.raises(StoreUnavailable) as caught:
        score(
            redis_streams,
            source=source,
            retry=Retry(attempts=3, first_s=0.5, max_s=1.0, sleep=pauses.append),
            metrics=metrics,
        )

    assert pauses == [0.5, 1.0, 1.0]  # a pause before every retry: no busy loop
    message = caught.value.message
    assert "127.0.0.1:1" in message and "unreachable" in message
    assert "gave up after 3 retries" in message
    assert metrics.unavailable._value.get() == 4


class CountingSource:
    """A source that records the most batches ever read and not yet acknowledged."""

    def __init__(self, inner: EventSource) -> None:
        self.inner = inner
        self.outstanding = 0
        self.most = 0
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return self.inner.label

    def read(self, max_events: int, wait_s: float) -> list[Event]:
        got = self.inner.read(max_events, wait_s)
        if got:
            with self._lock:
                self.outstanding += 1
                self.most = max(self.most, self.outstanding)
        return got

    def ack(self, events: Sequence[Event]) -> None:
        self.inner.ack(events)
        with self._lock:
            self.outstanding -= 1

    def lag(self) -> int | None:
        return self.inner.lag()

    def close(self) -> None:
        self.inner.close()


def _consumer(streams: Streams, model: SumModel, source: EventSource, **kw: Any) -> Any:
    from modelward.serving.batch_parts import PartFeatures as _Features
    from modelward.serving.models import ObjectModelLoader as Loader
    from modelward.serving.streaming.consumer import StreamConsumer
    from modelward.serving.streaming.scoring import MicroBatchScorer

    resolved = ResolvedModel("sums", "3", "mem://sums/3", model)
    loaded = Loader().load(resolved, SPEC.output, ["a", "b"])
    sink = open_stream(streams.url("scores"), "--sink")
    dead = open_stream(streams.url("events-dead"), "--sink")
    streams.opened.extend([sink, dead])
    return StreamConsumer(
        source=source,
        sink=sink,
        dead_letter=dead,
        scorer=MicroBatchScorer(SPEC, loaded, ["a", "b"], _Features(None, SPEC, None, None)),
        prediction_log=MemoryPredictionSink(),
        metrics=StreamMetrics("sums"),
        batch_size=8,
        wait_s=0.2,
        **kw,
    )


def _poll(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_slow_model_holds_the_reader_back_at_max_in_flight_batches(
    redis_streams: Streams,
) -> None:
    streams = redis_streams
    produce(streams, "events", [orjson.dumps(event(i)) for i in range(64)])
    model = SumModel()
    inner = open_stream(streams.url("events", group="scorers"), "--source")
    streams.opened.append(inner)
    source = CountingSource(inner)
    consumer = _consumer(streams, model, source, max_in_flight=2)
    model.gate = threading.Event()  # after the load's warm-up
    stop = threading.Event()
    done: list[Any] = []
    runner = threading.Thread(target=lambda: done.append(consumer.run(stop, until_idle=True)))
    runner.start()
    try:
        _poll(lambda: source.outstanding == 2 and model.entered.is_set(), "two batches read")
        assert consumer.metrics.in_flight._value.get() == 2
        assert inner.lag() == 64 - 16  # the reader waits for a slot instead of reading on
    finally:
        model.gate.set()
        runner.join(30)
    assert done and done[0].scored == 64
    assert source.most == 2


def test_stop_finishes_and_acknowledges_the_batches_read_then_returns(
    redis_streams: Streams,
) -> None:
    streams = redis_streams
    produce(streams, "events", [orjson.dumps(event(i)) for i in range(64)])
    model = SumModel()
    inner = open_stream(streams.url("events", group="scorers", consumer="c1"), "--source")
    streams.opened.append(inner)
    source = CountingSource(inner)
    consumer = _consumer(streams, model, source, max_in_flight=2)
    model.gate = threading.Event()  # after the load's warm-up
    stop = threading.Event()
    done: list[Any] = []
    runner = threading.Thread(target=lambda: done.append(consumer.run(stop)))
    runner.start()
    _poll(lambda: source.outstanding == 2, "two batches read")
    stop.set()  # what SIGTERM does
    model.gate.set()
    runner.join(30)

    counts = done[0]
    assert counts.scored == 16 and source.outstanding == 0
    assert len(read_back(streams, "scores")) == 16
    rest = open_stream(streams.url("events", group="scorers", consumer="c1"), "--source")
    streams.opened.append(rest)
    left = rest.read(100, 0.3)
    assert len(left) == 48 and not any(e.redelivered for e in left)

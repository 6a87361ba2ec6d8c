"""The stream consumer: read events, score them in micro-batches, write, log, acknowledge.

A reader thread takes batches from the source while the main thread scores the previous
ones; at most ``max_in_flight`` batches are read and not yet acknowledged (the reader
waits for a slot before it reads again), so a slow model or sink holds the reader back
instead of filling memory. For each batch, in this order:

1. score the events (:mod:`.scoring`); an event that is not JSON or fails the schema
   is a refusal;
2. write one output per scored event to the sink, keyed by event id (a key written
   before is skipped: a redelivered event never gives a second output);
3. write one dead letter per refused event, with the field and the rule;
4. write the scored events to the prediction log as one Arrow table (``write_table``,
   ``mode="stream"``, the request id is the event id; a redelivered event already
   logged is not logged again);
5. acknowledge the batch.

A consumer killed anywhere in between leaves its batch pending in the group; it is
delivered again (to this consumer restarted under the same name, or claimed by another
one) and steps 2-4 skip what was already written. So every event is scored exactly once
in the sink. A source, sink or log that is unreachable is retried with a growing pause a
bounded number of times, then the consumer stops with the error. ``stop`` (SIGTERM)
ends reading; the batches already read are finished and acknowledged before it returns.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import orjson
import pyarrow as pa

from modelward.errors import StoreUnavailable
from modelward.monitoring import PredictionSink, prediction_table
from modelward.serving.streaming.base import Event, EventSink, EventSource, Message
from modelward.serving.streaming.metrics import StreamMetrics
from modelward.serving.streaming.scoring import MicroBatchScorer, Refusal, Scored

__all__ = ["Retry", "StreamConsumer", "StreamCounts"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: characters of a refused event's body kept in its dead letter
_BODY_CHARS = 2_000
_LAG_EVERY_S = 1.0


@dataclass(frozen=True)
class Retry:
    """How often, and after what pauses, an unreachable server is tried again."""

    attempts: int = 5
    first_s: float = 0.5
    max_s: float = 8.0
    #: how to pause; default: wait on the consumer's stop event (SIGTERM cuts it short)
    sleep: Callable[[float], None] | None = field(default=None, compare=False)

    def pauses(self) -> Iterator[float]:
        pause = self.first_s
        for _ in range(self.attempts):
            yield pause
            pause = min(pause * 2, self.max_s)


@dataclass
class StreamCounts:
    """What a consumer has done so far."""

    events: int = 0
    scored: int = 0
    dead_lettered: int = 0
    #: scored events whose output was already in the sink (redelivered)
    duplicates: int = 0
    redelivered: int = 0
    batches: int = 0
    #: seconds from the source storing an event to its output being written, per event
    #: of the last batch (the benchmark reads them)
    last_lags_s: list[float] = field(default_factory=list, repr=False)


class _End:
    pass


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class StreamConsumer:
    """One consumer of an endpoint: a source, a sink, a dead-letter sink and the log."""

    def __init__(
        self,
        *,
        source: EventSource,
        sink: EventSink,
        dead_letter: EventSink,
        scorer: MicroBatchScorer,
        prediction_log: PredictionSink,
        metrics: StreamMetrics,
        batch_size: int = 500,
        wait_s: float = 0.2,
        max_in_flight: int = 2,
        retry: Retry | None = None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.dead_letter = dead_letter
        self.scorer = scorer
        self.log = prediction_log
        self.metrics = metrics
        self.batch_size = batch_size
        self.wait_s = wait_s
        self.max_in_flight = max_in_flight
        self.retry = retry or Retry()
        self.counts = StreamCounts()
        spec = scorer.spec
        self.endpoint = spec.name
        self._model = scorer.model

    def run(
        self,
        stop: threading.Event,
        *,
        until_idle: bool = False,
        on_batch: Callable[[StreamCounts], None] | None = None,
    ) -> StreamCounts:
        """Consume until ``stop`` is set (or, with ``until_idle``, until a read finds
        nothing); the batches already read are finished and acknowledged first."""
        slots = threading.Semaphore(self.max_in_flight)
        batches: queue.Queue[list[Event] | _End | _Failed] = queue.Queue()
        reading = threading.Event()
        reading.set()
        reader = threading.Thread(
            target=self._read_loop,
            args=(stop, reading, slots, batches, until_idle),
            name="modelward-stream-reader",
            daemon=True,
        )
        reader.start()
        try:
            while True:
                item = batches.get()
                if isinstance(item, _End):
                    break
                if isinstance(item, _Failed):
                    raise item.error
                self._handle(item, stop)
                slots.release()
                self.metrics.in_flight.dec()
                if on_batch is not None:
                    on_batch(self.counts)
        except BaseException:
            stop.set()  # the reader may be pausing before a retry: cut that short
            raise
        finally:
            reading.clear()
            reader.join()
        return self.counts

    # -- reading ---------------------------------------------------------------------------

    def _read_loop(
        self,
        stop: threading.Event,
        reading: threading.Event,
        slots: threading.Semaphore,
        batches: queue.Queue[list[Event] | _End | _Failed],
        until_idle: bool,
    ) -> None:
        next_lag = 0.0
        try:
            while not stop.is_set() and reading.is_set():
                if not slots.acquire(timeout=0.1):  # backpressure: every slot is in flight
                    continue
                if stop.is_set() or not reading.is_set():  # stopped while it waited
                    slots.release()
                    break
                try:
                    events = self._retrying(
                        lambda: self.source.read(self.batch_size, self.wait_s), stop
                    )
                except BaseException:
                    slots.release()
                    raise
                now = time.monotonic()
                if now >= next_lag:
                    next_lag = now + _LAG_EVERY_S
                    self._sample_lag()
                if not events:
                    slots.release()
                    if until_idle:
                        break
                    continue
                self.metrics.in_flight.inc()
                batches.put(events)
        except BaseException as exc:
            batches.put(_Failed(exc))
        finally:
            batches.put(_End())

    def _sample_lag(self) -> None:
        try:
            lag = self.source.lag()
        except StoreUnavailable:
            return  # the next read says so, with its retries
        if lag is not None:
            self.metrics.lag.set(lag)

    def _retrying(self, call: Callable[[], T], stop: threading.Event | None = None) -> T:
        pauses = self.retry.pauses()
        while True:
            try:
                return call()
            except StoreUnavailable as exc:
                self.metrics.unavailable.inc()
                pause = next(pauses, None)
                if pause is None:
                    raise StoreUnavailable(
                        f"{exc.message} (gave up after {self.retry.attempts} retries)",
                        **exc.details,
                    ) from None
                log.warning("%s; trying again in %.1fs", exc.message, pause)
                if self.retry.sleep is not None:
                    self.retry.sleep(pause)
                elif stop is not None:
                    stop.wait(pause)
                else:
                    time.sleep(pause)

    # -- one batch -------------------------------------------------------------------------

    def _handle(self, events: list[Event], stop: threading.Event) -> None:
        started = time.perf_counter()
        result = self.scorer.score([e.payload for e in events])
        model = self._model
        at_us = time.time_ns() // 1000
        outputs = [
            Message(
                events[i].id,
                orjson.dumps(
                    {
                        "event_id": events[i].id,
                        "endpoint": self.endpoint,
                        "prediction": prediction,
                        "model": model.name,
                        "model_version": model.version,
                    },
                    option=orjson.OPT_SERIALIZE_NUMPY,
                ),
            )
            for i, prediction in zip(result.indexes, result.predictions, strict=True)
        ]
        new = self._retrying(lambda: self.sink.write(outputs), stop) if outputs else 0
        written_us = time.time_ns() // 1000
        lags = [(written_us - events[i].published_us) / 1e6 for i in result.indexes]
        dead = self._dead_letters(events, result.refusals)
        if dead:
            self._retrying(lambda: self.dead_letter.write(dead), stop)
        table = self._log_table(events, result, at_us, stop)
        if table is not None:
            self._retrying(lambda: self.log.write_table(self.endpoint, table), stop)
        self._retrying(lambda: self.source.ack(events), stop)

        counts = self.counts
        redelivered = sum(1 for e in events if e.redelivered)
        counts.events += len(events)
        counts.scored += len(outputs)
        counts.duplicates += len(outputs) - new
        counts.dead_lettered += len(dead)
        counts.redelivered += redelivered
        counts.batches += 1
        counts.last_lags_s = lags
        m = self.metrics
        m.scored.inc(new)
        m.duplicates.inc(len(outputs) - new)
        m.dead_lettered.inc(len(dead))
        if redelivered:
            m.redelivered.inc(redelivered)
        if lags:  # the batch's oldest event: one observation per batch, not per event
            m.source_to_sink.observe(max(lags))
        m.batch_seconds.observe(time.perf_counter() - started)

    def _dead_letters(self, events: Sequence[Event], refusals: list[Refusal]) -> list[Message]:
        by_event: dict[int, list[Refusal]] = {}
        for refusal in refusals:
            by_event.setdefault(refusal.index, []).append(refusal)
        letters = []
        for index, why in by_event.items():
            event = events[index]
            first = why[0]
            letters.append(
                Message(
                    event.id,
                    orjson.dumps(
                        {
                            "event_id": event.id,
                            "endpoint": self.endpoint,
                            "reason": first.reason,
                            "field": first.field,
                            "rule": first.rule,
                            "errors": [{"field": r.field, "rule": r.rule} for r in why[:20]],
                            "body": self._shown_body(event.payload, first.reason),
                        }
                    ),
                )
            )
        return letters

    def _shown_body(self, payload: bytes, reason: str) -> str:
        """The refused body for the dead letter, PII fields masked when it parses."""
        if reason != "not_json":
            try:
                body = orjson.loads(payload)
            except orjson.JSONDecodeError:
                body = None
            if isinstance(body, dict):
                pii = self.scorer.pii
                masked = {k: "[redacted]" if k in pii else v for k, v in body.items()}
                return orjson.dumps(masked).decode()[:_BODY_CHARS]
        return payload[:_BODY_CHARS].decode("utf-8", errors="replace")

    def _log_table(
        self, events: Sequence[Event], result: Scored, at_us: int, stop: threading.Event
    ) -> pa.Table | None:
        """The batch's scored events as one prediction table (the log's columnar write:
        no record object per event), less those already logged; None when none is left.

        An event id is logged once: a key the producer sent twice in this batch, and a
        redelivered event a killed consumer had logged before, are left out.
        """
        if not result.indexes:
            return None
        ids = [events[i].id for i in result.indexes]
        again = [events[i].id for i in result.indexes if events[i].redelivered]
        logged = (
            self._retrying(lambda: self.log.find_request_ids(self.endpoint, again), stop)
            if again
            else set()
        )
        table = prediction_table(
            request_ids=pa.array(ids, pa.string()),
            at_us=at_us,
            model=self._model.name,
            model_version=self._model.version,
            inputs=result.inputs,
            predictions=pa.array(result.predictions),
            latency_ms=result.latency_ms,
            mode="stream",
        )
        if logged or len(set(ids)) < len(ids):
            seen = set(logged)
            keep = []
            for event_id in ids:
                keep.append(event_id not in seen)
                seen.add(event_id)
            table = table.filter(pa.array(keep, pa.bool_()))
        return table if table.num_rows else None

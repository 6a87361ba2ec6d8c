"""The prediction log writer: a bounded queue in front of a sink, flushed in batches.

The request path only appends to an in-memory queue (no I/O, no serialisation); one
background thread takes batches off it and writes them to the sink. When the sink cannot
be reached (:class:`~modelward.errors.StoreUnavailable`, an ``OSError``), the same batch is
retried with backoff while new records wait in the queue; if the queue is full, the new
record is refused and counted in :attr:`dropped` — never silently lost. :meth:`close`
writes everything still queued before it returns.

Any other failure says the batch itself cannot be written (a record the sink cannot
serialise): retrying it would block everything queued behind it forever. The batch is
halved until the bad records stand alone; each is handed to ``quarantine`` (the gateway
keeps them in a file, see :mod:`~modelward.monitoring.predictions.quarantine`), counted in
:attr:`quarantined` and logged by request id and error class only (no inputs: no PII), and
every other record is written.

Example::

    writer = PredictionLogWriter(open_prediction_sink({"type": "sqlite"}, root))
    writer.start()
    writer.submit(record)         # never blocks
    writer.close(timeout_s=30)    # graceful shutdown: flushes, then closes the sink
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.base import PredictionRecord, PredictionSink

__all__ = ["PredictionLogWriter"]

_log = logging.getLogger("modelward.monitoring")
#: the sink cannot be reached: retry the same batch; any other error is about the records
_UNREACHABLE = (StoreUnavailable, OSError)


class PredictionLogWriter:
    def __init__(
        self,
        sink: PredictionSink,
        *,
        capacity: int = 100_000,
        batch_size: int = 1_000,
        flush_interval_s: float | None = None,
        max_backoff_s: float = 2.0,
        quarantine: Callable[[PredictionRecord, Exception], None] | None = None,
    ) -> None:
        if capacity < 1 or batch_size < 1:
            raise ValueError("capacity and batch_size must be at least 1")
        self.sink = sink
        self.capacity = capacity
        self.batch_size = batch_size
        # the sink's own preference (a file per batch wants bigger batches), else 0.1 s
        self._interval = (
            flush_interval_s
            if flush_interval_s is not None
            else float(getattr(sink, "flush_interval_s", 0.1))
        )
        self._max_backoff = max_backoff_s
        self._quarantine = quarantine
        self._queue: deque[PredictionRecord] = deque()
        self._inflight = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._drop_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._close_deadline = float("inf")
        #: records refused because the queue was full, or abandoned at a timed-out close
        self.dropped = 0
        #: records the sink accepted
        self.written = 0
        #: failed write attempts (each retried, or split to set a bad record aside)
        self.write_errors = 0
        #: records the sink could not write for their content, set aside (never retried)
        self.quarantined = 0

    @property
    def flush_interval_s(self) -> float:
        """Seconds a wake of the writer waits for records at most."""
        return self._interval

    @property
    def depth(self) -> int:
        """Records accepted but not yet written."""
        return len(self._queue) + self._inflight

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="prediction-log-writer", daemon=True
            )
            self._thread.start()

    def submit(self, record: PredictionRecord) -> bool:
        """Queue ``record``; ``False`` (and counted as dropped) when the queue is full."""
        queue = self._queue
        # capacity covers the batch being written too: what is held in memory, in total
        if len(queue) + self._inflight >= self.capacity or self._stopping.is_set():
            with self._drop_lock:
                self.dropped += 1
            return False
        queue.append(record)
        if len(queue) == self.batch_size:
            self._wake.set()
        return True

    def submit_many(self, records: Iterable[PredictionRecord]) -> int:
        """Queue each record; returns how many were accepted."""
        return sum(1 for r in records if self.submit(r))

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued so far is written; ``False`` on timeout."""
        deadline = time.monotonic() + timeout_s
        self._wake.set()
        with self._idle:
            while self.depth:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
                self._wake.set()
        return True

    def close(self, timeout_s: float = 30.0) -> int:
        """Stop accepting, write what is queued (retrying up to ``timeout_s``), close the sink.

        Returns how many records could not be written in time; they are counted in
        :attr:`dropped` as well.
        """
        self._close_deadline = time.monotonic() + timeout_s
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s + 1.0)
        else:
            self._drain()
        lost = len(self._queue) + self._inflight
        if lost:
            with self._drop_lock:
                self.dropped += lost
            self._queue.clear()
            self._inflight = 0
        self.sink.close()
        return lost

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            if not self._drain():
                return
            if self._stopping.is_set() and not self._queue:
                return

    def _drain(self) -> bool:
        """Write every queued batch; ``False`` if a close deadline passed while retrying."""
        queue = self._queue
        # only what was queued when the writer woke: records that arrive while it writes
        # wait for the next wake (a full batch, or the interval), or a slow sink would be
        # fed back-to-back batches of a few records (a Parquet file each)
        budget = len(queue)
        while queue and budget > 0:
            batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
            budget -= len(batch)
            self._inflight = len(batch)
            unwritten = self._write(batch)
            if unwritten:
                queue.extendleft(reversed(unwritten))
                self._inflight = 0
                return False
            self._inflight = 0
            with self._idle:
                self._idle.notify_all()
        with self._idle:
            self._idle.notify_all()
        return True

    def _write(self, batch: list[PredictionRecord]) -> list[PredictionRecord]:
        """Write ``batch``; returns what is still unwritten when a close deadline passed."""
        backoff = 0.05
        while True:
            try:
                self.sink.write(batch)
            except _UNREACHABLE:  # keep the batch and retry, never lose it
                self.write_errors += 1
            except Exception as exc:  # the content: set the bad records apart, write the rest
                self.write_errors += 1
                if len(batch) == 1:
                    self._set_aside(batch[0], exc)
                    return []
                half = len(batch) // 2
                unwritten = self._write(batch[:half])
                return unwritten + batch[half:] if unwritten else self._write(batch[half:])
            else:
                self.written += len(batch)
                return []
            if time.monotonic() + backoff > self._close_deadline:
                return batch
            # the stop event doubles as an interruptible sleep; during close keep retrying
            if not self._stopping.is_set():
                self._stopping.wait(backoff)
            else:
                time.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _set_aside(self, record: PredictionRecord, exc: Exception) -> None:
        self.quarantined += 1
        # request id and error class only: the message could quote the (redacted) inputs
        _log.error(
            "prediction log: record %s of endpoint %s cannot be written (%s); quarantined",
            record.request_id,
            record.endpoint,
            type(exc).__name__,
        )
        if self._quarantine is not None:
            try:
                self._quarantine(record, exc)
            except Exception as failed:  # the quarantine file is best effort; it is counted
                _log.error("prediction log: the quarantine failed too: %s", failed)

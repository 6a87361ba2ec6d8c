"""The worker: takes an endpoint's jobs from the queue and scores them as the gateway would.

Rows go through :meth:`Gateway.answer_rows <modelward.serving.gateway.Gateway.answer_rows>`:
the endpoint's runtime (kept fresh by the gateway's own refresh), release routing, online
features, the model, the breakers and the per-row fallbacks, so a job's result is the
document the predict route would have answered. A file job is scored by the batch path
(:func:`~modelward.serving.batch.batch_score`, with the same resolver and loader) into
``.modelward/jobs/<endpoint>/<job id>/``. Every scored row goes to the prediction log with
``mode="async"``; a job's rows are logged under its id (``<id>/<row>`` for many rows).

Exactly once, across kill -9: the rows of a batch of jobs are written to the log (one
write), then each job's result is recorded. A worker killed between the two has its jobs
redelivered after the visibility timeout; the redelivery skips the log records already
written (by request id) and the queue keeps the first result it is given. A file job is
content-addressed by the batch path: redelivered, it resumes or finds its finished output.

``concurrency`` loops take and score batches at once; their rows meet in the endpoint's
micro-batcher, so one model call scores many jobs. When the queue cannot be reached, the
worker waits with a doubling backoff and, after ``outage_retries`` attempts in a row,
stops with the queue's error (no busy loop, no silent hang).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelward.errors import InputError, ModelwardError, StoreUnavailable
from modelward.monitoring import PredictionRecord, PredictionSink
from modelward.serving.jobs.base import Job, Lease
from modelward.serving.schema import RequestSchema

if TYPE_CHECKING:
    import pyarrow as pa

    from modelward.config import JobsSettings
    from modelward.serving.gateway import Gateway
    from modelward.serving.jobs.base import JobQueue
    from modelward.serving.jobs.callbacks import CallbackSender
    from modelward.session import Session

__all__ = ["JobWorker", "WorkerStats"]

_log = logging.getLogger("modelward.serving.jobs")
#: seconds between purges of expired jobs (the SQL queue; Redis expires them itself)
_PURGE_EVERY_S = 60.0


@dataclass
class WorkerStats:
    """What a worker did so far (the CLI's progress line, the benchmark)."""

    succeeded: int = 0
    #: deliveries that failed and were queued again, and jobs dead-lettered
    retried: int = 0
    dead: int = 0
    #: log records skipped on a redelivery because the killed worker had written them
    relogged_skipped: int = 0
    #: the backoff waits while the queue could not be reached (seconds, in order)
    outage_waits: list[float] = field(default_factory=list)


class _AsyncModeLog:
    """The prediction log, as seen by the batch path scoring a file job: mode ``async``."""

    def __init__(self, sink: PredictionSink) -> None:
        self._sink = sink

    @property
    def label(self) -> str:
        return self._sink.label

    def write(self, records: Sequence[PredictionRecord]) -> None:
        self._sink.write([r._replace(mode="async") for r in records])

    def write_table(self, endpoint: str, table: pa.Table) -> None:
        import pyarrow as pa

        mode = table.schema.get_field_index("mode")
        marked = pa.repeat(pa.scalar("async", pa.string()), table.num_rows)
        self._sink.write_table(endpoint, table.set_column(mode, "mode", marked))

    def read(self, endpoint: str | None = None, limit: int | None = None) -> list[PredictionRecord]:
        return self._sink.read(endpoint, limit)

    def read_window(self, endpoint: str, **bounds: Any) -> pa.Table:
        return self._sink.read_window(endpoint, **bounds)

    def find_request_ids(self, endpoint: str, request_ids: Iterable[str]) -> set[str]:
        return self._sink.find_request_ids(endpoint, request_ids)

    def prune(self, before_us: int) -> int:
        return self._sink.prune(before_us)

    def count(self, endpoint: str | None = None) -> int:
        return self._sink.count(endpoint)

    def close(self) -> None:
        """The worker's sink outlives a file job: closed with the worker, not here."""


@dataclass
class _Outcome:
    lease: Lease
    result: dict[str, Any] | None = None
    records: list[PredictionRecord] = field(default_factory=list)
    error: str | None = None
    retry: bool = True


class JobWorker:
    """Scores ``endpoint``'s jobs from ``queue`` through ``gateway`` (started by :meth:`run`)."""

    def __init__(
        self,
        gateway: Gateway,
        queue: JobQueue,
        endpoint: str,
        settings: JobsSettings,
        *,
        concurrency: int = 2,
        batch: int = 64,
        consumer: str | None = None,
        session: Session | None = None,
        root: Path | None = None,
        callbacks: CallbackSender | None = None,
        outage_retries: int = 8,
        outage_backoff_s: float = 0.5,
        outage_max_s: float = 30.0,
        on_progress: Callable[[WorkerStats], None] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if concurrency < 1 or batch < 1:
            raise InputError("concurrency and batch must be at least 1", field="concurrency")
        self.gateway = gateway
        self.queue = queue
        self.endpoint = endpoint
        self.settings = settings
        self.concurrency = concurrency
        self.batch = batch
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.session = session
        self.root = root
        self.callbacks = callbacks
        self.outage_retries = outage_retries
        self.outage_backoff_s = outage_backoff_s
        self.outage_max_s = outage_max_s
        self.stats = WorkerStats()
        self._on_progress = on_progress
        self._on_close = on_close
        self._schemas: dict[int, RequestSchema] = {}
        self._outage = 0
        self._last_purge = time.monotonic()

    @property
    def _sink(self) -> PredictionSink:
        return self.gateway.writer.sink

    async def run(
        self, stop: asyncio.Event | None = None, *, until_idle: bool = False
    ) -> WorkerStats:
        """Take and score jobs until ``stop`` is set (or, ``until_idle``, the queue is
        empty); raises :class:`StoreUnavailable` when the queue stays unreachable."""
        stop = stop or asyncio.Event()
        await self.gateway.startup()
        try:
            loops = [
                asyncio.create_task(self._loop(stop, until_idle), name=f"job-loop-{i}")
                for i in range(self.concurrency)
            ]
            try:
                await asyncio.gather(*loops)
            finally:
                stop.set()
                await asyncio.gather(*loops, return_exceptions=True)
        finally:
            if self._on_close is not None:  # callbacks and the queue, before the session
                await asyncio.to_thread(self._on_close)
            await self.gateway.shutdown()
        return self.stats

    async def _loop(self, stop: asyncio.Event, until_idle: bool) -> None:
        wait_s = 0.0 if until_idle else 1.0
        while not stop.is_set():
            try:
                leases = await asyncio.to_thread(
                    self.queue.take, self.endpoint, self.consumer, count=self.batch, wait_s=wait_s
                )
            except StoreUnavailable as exc:
                await self._wait_out(exc, stop)
                continue
            if self._outage:
                _log.warning("job queue %s answers again", self.queue.label)
                self._outage = 0
            if not leases:
                if until_idle:
                    return
                continue
            try:
                await self._process(leases)
            except StoreUnavailable as exc:  # results not recorded: redelivered after the lease
                await self._wait_out(exc, stop)
                continue
            if time.monotonic() - self._last_purge > _PURGE_EVERY_S:
                self._last_purge = time.monotonic()
                await asyncio.to_thread(self.queue.purge_expired)

    async def _wait_out(self, exc: StoreUnavailable, stop: asyncio.Event) -> None:
        """Back off while the queue is unreachable; give up after ``outage_retries``."""
        self._outage += 1
        if self._outage >= self.outage_retries:
            raise StoreUnavailable(
                f"{exc.message}; gave up after {self._outage} attempts",
                store="jobs",
                attempts=self._outage,
            ) from None
        delay = min(self.outage_backoff_s * 2 ** (self._outage - 1), self.outage_max_s)
        self.stats.outage_waits.append(delay)
        _log.error(
            "job queue unreachable (attempt %d): %s; retrying in %.1fs",
            self._outage,
            exc.message,
            delay,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)

    def _schema(self, name: str) -> RequestSchema | None:
        runtime = self.gateway.cache.runtimes.get(name)
        if runtime is None:
            return None
        schema = self._schemas.get(id(runtime.schema))
        if schema is None:
            self._schemas.clear()  # a new runtime: the old one's schema is gone
            schema = RequestSchema(name, runtime.schema.fields, self.settings.max_rows)
            self._schemas[id(runtime.schema)] = schema
        return schema

    async def _process(self, leases: list[Lease]) -> None:
        outcomes = await asyncio.gather(*(self._score(lease) for lease in leases))
        await asyncio.to_thread(self._finish, outcomes)
        if self._on_progress is not None:
            self._on_progress(self.stats)

    async def _score(self, lease: Lease) -> _Outcome:
        job = lease.job
        outcome = _Outcome(lease)
        try:
            if "input_path" in job.payload:
                outcome.result = await asyncio.to_thread(self._score_file, job)
            else:
                outcome.result, outcome.records = await self._score_rows(job)
        except InputError as exc:  # the job's own content: it would fail the same again
            outcome.error, outcome.retry = exc.message, False
        except ModelwardError as exc:
            outcome.error = exc.message
        except Exception as exc:  # a dependency or a bug: retried, then dead-lettered
            _log.exception("job %s failed", job.id)
            outcome.error = f"{type(exc).__name__}: {exc}"
        return outcome

    async def _score_rows(self, job: Job) -> tuple[dict[str, Any], list[PredictionRecord]]:
        schema = self._schema(self.endpoint)
        if schema is None:
            raise StoreUnavailable(f"endpoint {self.endpoint!r} is not loaded here yet")
        # checked at submit; checked again since the definition may have changed since
        rows, batch = schema.validate({"inputs": job.payload["inputs"]})
        if not job.payload.get("batch", True) and len(rows) == 1:
            batch = False
        started = time.perf_counter()
        runtime, answer, route = await self.gateway.answer_rows(self.endpoint, rows, job.id)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        records: list[PredictionRecord] = []
        answer.log(
            records.append,
            request_id=job.id,
            at_us=int(job.created_at * 1_000_000),
            endpoint=self.endpoint,
            latency_ms=elapsed_ms,
            pii=runtime.pii_fields or runtime.spec.pii_fields,
            role=route.role if route is not None else None,
            release_id=route.release_id if route is not None else "",
            mode="async",
        )
        return answer.payload(job.id, self.endpoint, batch), records

    def _score_file(self, job: Job) -> dict[str, Any]:
        from modelward.serving.batch import batch_score
        from modelward.serving.jobs.submission import resolve_input_path

        runtime = self.gateway.cache.runtimes.get(self.endpoint)
        if runtime is None:
            raise StoreUnavailable(f"endpoint {self.endpoint!r} is not loaded here yet")
        path = resolve_input_path(self.endpoint, job.payload["input_path"], self.root)
        assert self.root is not None
        output = self.root / ".modelward" / "jobs" / self.endpoint / job.id
        sources = self.gateway.cache.sources
        done = batch_score(
            runtime.spec,
            path,
            output,
            session=self.session,
            resolver=sources.resolver,
            loader=sources.loader,
            prediction_log=_AsyncModeLog(self._sink),
        )
        return {
            "job_id": job.id,
            "endpoint": self.endpoint,
            "model": done.model,
            "model_version": done.model_version,
            "output": str(done.output.relative_to(self.root)),
            "rows_in": done.rows_in,
            "rows_scored": done.rows_scored,
            "rows_rejected": done.rows_rejected,
        }

    def _finish(self, outcomes: list[_Outcome]) -> None:
        """Log, then record: on a thread, since both block on their stores."""
        records = [r for o in outcomes if o.result is not None for r in o.records]
        redelivered = {o.lease.job.id for o in outcomes if o.lease.job.attempts > 1}
        if records and redelivered:
            # a killed worker may have logged these rows before it could record the result
            ids = [r.request_id for r in records if r.request_id.split("/")[0] in redelivered]
            already = self._sink.find_request_ids(self.endpoint, ids)
            if already:
                self.stats.relogged_skipped += len(already)
                records = [r for r in records if r.request_id not in already]
        if records:
            try:
                self._sink.write(records)
            except ModelwardError as exc:  # the log is down: no result without its log rows
                for o in outcomes:
                    if o.result is not None:
                        o.result, o.error = None, f"prediction log unavailable: {exc.message}"
        scored = [o for o in outcomes if o.result is not None]
        results: list[tuple[Lease, dict[str, Any]]] = []
        for o in scored:
            assert o.result is not None
            results.append((o.lease, o.result))
        kept = self.queue.complete_many(results) if results else []
        for o, first in zip(scored, kept, strict=True):
            if first:  # else another delivery's result was recorded first
                self.stats.succeeded += 1
                job = o.lease.job
                if job.callback_url and self.callbacks is not None:
                    self.callbacks.send(replace(job, status="succeeded", result=o.result))
        for o in outcomes:
            if o.result is not None:
                continue
            job = o.lease.job
            assert o.error is not None
            status = self.queue.fail(o.lease, o.error, retry=o.retry)
            if status == "failed":
                self.stats.dead += 1
                if job.callback_url and self.callbacks is not None:
                    self.callbacks.send(replace(job, status="failed", error=o.error))
            else:
                self.stats.retried += 1

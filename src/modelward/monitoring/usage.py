"""System figures: CPU and memory per gateway worker, and cost per 1,000 predictions.

Each gateway worker process runs a :class:`UsageReporter` beside its HTTP server: a
background thread that, every ``[monitoring] usage_interval_s`` seconds, stores one row
(``worker_usage``) with the CPU seconds the process used in the interval (every thread:
the event loop, the model thread, the prediction log writer), its resident memory and the
prediction log records it wrote. The request path pays nothing for it; the metadata
database sees one small insert per worker and interval, from every replica alike, so a
fleet behind a load balancer is measured the same way as one process.

A monitor run reads the samples of its window (:func:`system_figures`): per worker the
share of one core it used and its largest resident memory, and, priced as the readiness
load test prices a worker (``[serving] cost_per_core_hour``, one worker process counts as
one core for as long as it runs), the cost per 1,000 predictions::

    cost_per_1000 = worker_seconds / 3600 * cost_per_core_hour / predictions * 1000

A window no worker reported in has no system figures (a batch-only endpoint, or a gateway
started without a metadata database); rules on ``system.*`` then say "not measured".
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select

from modelward.monitoring.tables import worker_usage

if TYPE_CHECKING:
    from modelward.session import Session
    from modelward.store import Store

__all__ = ["UsageReporter", "UsageSample", "resident_bytes", "system_figures"]

_log = logging.getLogger("modelward.monitoring")


def resident_bytes() -> int:
    """This process's resident memory now (Linux ``/proc``; elsewhere its peak)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # macOS reports bytes, Linux and the BSDs KiB
        return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass(frozen=True)
class UsageSample:
    """One interval of one worker, as stored."""

    worker: str
    at: datetime
    interval_s: float
    cpu_s: float
    rss_bytes: int
    predictions: int


class UsageReporter:
    """Samples this process every ``interval_s`` and stores the sample (a daemon thread).

    ``predictions`` counts the records this worker has written so far (the prediction log
    writer's ``written``). It runs as a gateway service: ``await start()`` once serving,
    ``await stop()`` at shutdown (which stores the last, partial interval). A sample the
    database refuses is kept: its interval joins the next one, so no CPU second is lost
    while the database is away.
    """

    def __init__(
        self,
        store: Store,
        predictions: Callable[[], int],
        *,
        interval_s: float = 30.0,
        worker: str | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._store = store
        self._predictions = predictions
        self.interval_s = interval_s
        started = datetime.now(UTC)
        self.worker = worker or f"{socket.gethostname()[:32]}:{os.getpid()}:{started:%H%M%S}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._since = (time.monotonic(), time.process_time(), predictions())

    def sample(self) -> UsageSample:
        """The interval since the last stored sample (not stored, baseline not moved)."""
        return self._measure()[0]

    def _measure(self) -> tuple[UsageSample, tuple[float, float, int]]:
        now = (time.monotonic(), time.process_time(), self._predictions())
        then = self._since
        found = UsageSample(
            worker=self.worker,
            at=datetime.now(UTC),
            interval_s=max(now[0] - then[0], 0.0),
            cpu_s=max(now[1] - then[1], 0.0),
            rss_bytes=resident_bytes(),
            predictions=max(now[2] - then[2], 0),
        )
        return found, now

    def report(self) -> UsageSample | None:
        """Store one sample now; ``None`` (logged, interval kept) when it cannot be stored."""
        with self._lock:
            found, now = self._measure()
            try:
                with self._store.transaction() as conn:
                    conn.execute(insert(worker_usage).values(**asdict(found)))
            except Exception as exc:  # the database is away: the next interval carries it
                _log.warning("worker usage sample not stored: %s", type(exc).__name__)
                return None
            self._since = now
            return found

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.report()

    async def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="worker-usage", daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
            self._thread = None
        await asyncio.to_thread(self.report)


def system_figures(
    session: Session, start: datetime, stop: datetime, *, cost_per_core_hour: float
) -> dict[str, Any] | None:
    """The gateway workers' figures of the samples stored in ``[start, stop)``; ``None``
    when no worker reported then. Shared by every endpoint the workers serve."""
    c = worker_usage.c
    query = (
        select(
            c.worker,
            func.sum(c.interval_s).label("seconds"),
            func.sum(c.cpu_s).label("cpu_s"),
            func.max(c.rss_bytes).label("rss"),
            func.sum(c.predictions).label("predictions"),
        )
        .where(c.at >= start, c.at < stop)
        .group_by(c.worker)
        .order_by(c.worker)
    )
    with session.store.read() as conn:
        rows = conn.execute(query).all()
    workers = [
        {
            "worker": r.worker,
            "seconds": float(r.seconds),
            # the share of one core: 1.0 is a worker busy all the time
            "cpu": float(r.cpu_s) / float(r.seconds) if r.seconds else 0.0,
            "rss_mb": int(r.rss) / 2**20,
            "predictions": int(r.predictions),
        }
        for r in rows
    ]
    if not workers:
        return None
    seconds = sum(w["seconds"] for w in workers)
    predictions = sum(w["predictions"] for w in workers)
    cost = seconds / 3600.0 * cost_per_core_hour
    return {
        "workers": len(workers),
        "cpu_mean": sum(w["cpu"] * w["seconds"] for w in workers) / seconds if seconds else 0.0,
        "cpu_max": max(w["cpu"] for w in workers),
        "rss_mb_max": max(w["rss_mb"] for w in workers),
        "predictions": predictions,
        "cost_per_core_hour": cost_per_core_hour,
        "cost": cost,
        "cost_per_1000": cost / predictions * 1000.0 if predictions else None,
        "per_worker": workers,
    }

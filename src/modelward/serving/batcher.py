"""Opportunistic micro-batching: on a dedicated worker thread, or on the event loop.

Requests hand their item to the worker and await a future. Whenever the worker is free it
takes *every* item already waiting (up to ``max_batch``) and runs one call for all of
them: under load many requests share one model call, at low load a request is scored
alone at once. There is never a timed wait for a batch to fill. With ``max_batch = 1``
the same worker scores one item per call.

Why a thread (:class:`MicroBatcher`, the default): a model that hangs must not stall the
loop, so the per-request deadline can answer with the fallback on time. One hop per *batch*
(not per request) keeps the cost of that safety small. :class:`LoopBatcher` scores on the
event loop itself (an endpoint with ``isolate_model: false``): the requests parsed in one
loop iteration share one call, with no thread at all — the least overhead, but a hung
model stalls the worker.

The versions of a release (a canary's baseline and candidate, blue and green) share their
endpoint's :class:`MicroBatcher`: each version is a :class:`Lane` with its own scoring
function, and every request waiting joins the same window, whichever version it goes to.
The window is split per lane at call time (one model call per version present), so two
versions make as many model calls, thread wake-ups and GIL hand-overs per request as
one: with a thread per version each window held half the rows and there were twice the
calls. Sharing must not let one version hurt the other, so a lane is moved to a thread
of its own (as if nothing were shared) when its calls prove slow — on average over twice
the fastest other lane's plus :data:`SLOW_MARGIN_S` — or when one of its calls has run
past ``stall_s`` (a hung model) while another lane has work: the other lanes' rows then
go on at once on a fresh worker thread, and the stuck one ends when its call returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["SLOW_MARGIN_S", "BatcherClosed", "Lane", "LoopBatcher", "MicroBatcher"]

_log = logging.getLogger("modelward.serving")

#: a batch function returns one result per item; an Exception instance fails that item
BatchFn = Callable[[Sequence[Any]], Sequence[Any]]
#: a lane whose calls take on average more than twice the fastest other lane's plus this
#: many seconds gets a thread of its own (a slow candidate must not slow the baseline)
SLOW_MARGIN_S = 0.005
#: calls a lane makes before its average is trusted to judge it slow
_SLOW_AFTER_CALLS = 5
_Entry = tuple[BatchFn, Any, "asyncio.Future[Any]"]


class BatcherClosed(RuntimeError):
    """The batcher was closed (its runtime was replaced); nothing was queued."""


class MicroBatcher:
    def __init__(
        self,
        fn: BatchFn,
        *,
        max_batch: int = 64,
        name: str = "model",
        stall_s: float | None = None,
    ) -> None:
        self.fn = fn
        self.max_batch = max(1, max_batch)
        self.name = name
        #: a call running this long holds up the other lanes no further (see the module)
        self.stall_s = stall_s
        self._queue: deque[_Entry] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._closed = False
        self._closed_lanes: set[BatchFn] = set()
        #: lanes moved to a thread of their own, slow or stalled
        self._apart: dict[BatchFn, MicroBatcher] = {}
        #: the lane being called and since when (time.monotonic()); None: between calls
        self._busy: tuple[BatchFn, float] | None = None
        #: the taken window's lanes not called yet (a fresh worker takes them on a stall)
        self._later: list[list[_Entry]] = []
        #: per lane: calls made and their average seconds (exponentially weighted)
        self._timing: dict[BatchFn, tuple[int, float]] = {}
        self._turn = 0
        self._worker = 0
        self._thread = self._start_worker()
        #: model calls made and items scored, for the batch-size metric
        self.calls = 0
        self.items = 0

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def apart(self) -> int:
        """Lanes moved to a thread of their own."""
        return len(self._apart)

    def lane(self, fn: BatchFn) -> Lane:
        """Another version's way into this batcher: ``fn`` scores its items."""
        return Lane(self, fn)

    def submit(self, item: Any, fn: BatchFn | None = None) -> asyncio.Future[Any]:
        """Queue ``item`` for lane ``fn`` (this batcher's own function when None); the
        future resolves on the caller's loop with its result."""
        lane = self.fn if fn is None else fn
        apart = self._apart.get(lane)
        if apart is not None:
            return apart.submit(item)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        with self._ready:
            if self._closed or lane in self._closed_lanes:
                raise BatcherClosed("the batcher is closed")
            busy = self._busy
            if (
                busy is not None
                and busy[0] is not lane
                and self.stall_s is not None
                and time.monotonic() - busy[1] > self.stall_s
            ):
                self._move_apart(busy[0], f"call has run over {self.stall_s:g} s", stalled=True)
            self._queue.append((lane, item, future))
            self._ready.notify()
        return future

    def close(self, timeout_s: float = 10.0) -> None:
        """Score what is queued, then stop the thread (and the lanes' own threads)."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            thread, apart = self._thread, list(self._apart.values())
        thread.join(timeout_s)
        for batcher in apart:
            batcher.close(timeout_s)

    def close_lane(self, fn: BatchFn, timeout_s: float = 10.0) -> None:
        """Refuse lane ``fn``'s new items; those queued are still scored."""
        with self._ready:
            self._closed_lanes.add(fn)
            apart = self._apart.get(fn)
        if apart is not None:
            apart.close(timeout_s)

    def _start_worker(self) -> threading.Thread:
        self._worker += 1
        thread = threading.Thread(
            target=self._run, args=(self._worker,), name=f"batcher-{self.name}", daemon=True
        )
        thread.start()
        return thread

    def _move_apart(self, lane: BatchFn, why: str, *, stalled: bool = False) -> None:
        """Give ``lane`` a thread of its own, with its queued items. Holds the lock."""
        if lane in self._apart:
            return
        apart = MicroBatcher(lane, max_batch=self.max_batch, name=f"{self.name}-apart")
        self._apart[lane] = apart
        _log.warning(
            "batcher %s: one version's model %s: it is scored on a thread of its own",
            self.name,
            why,
        )
        if stalled:  # the worker is stuck in the lane's call: a fresh one takes the rest
            for group in reversed(self._later):
                self._queue.extendleft(reversed(group))
            self._later = []
            self._busy = None
            self._thread = self._start_worker()
        if any(entry[0] is lane for entry in self._queue):
            apart._take([e for e in self._queue if e[0] is lane])
            kept = [e for e in self._queue if e[0] is not lane]
            self._queue.clear()
            self._queue.extend(kept)

    def _take(self, entries: list[_Entry]) -> None:
        """Queue entries another batcher had (their futures already made)."""
        with self._ready:
            self._queue.extend(entries)
            self._ready.notify()

    def _run(self, worker: int) -> None:
        queue = self._queue
        while True:
            with self._ready:
                while not queue and not self._closed:
                    self._ready.wait()
                if worker != self._worker or (not queue and self._closed):
                    return
                n = min(len(queue), self.max_batch)
                groups: dict[BatchFn, list[_Entry]] = {}
                for _ in range(n):
                    entry = queue.popleft()
                    groups.setdefault(entry[0], []).append(entry)
                for lane in [lane for lane in groups if lane in self._apart]:
                    self._apart[lane]._take(groups.pop(lane))
                # the lanes take turns at going first: a call's time holds the GIL waits
                # of its place in the window too, and neither lane must seem slow for it
                later = list(groups.values())
                self._turn += 1
                turn = self._turn % len(later) if later else 0
                self._later = later[turn:] + later[:turn]
            while True:
                with self._ready:
                    if worker != self._worker:  # replaced while stuck: the rest moved on
                        return
                    self._busy = None
                    if not self._later:
                        break
                    group = self._later.pop(0)
                    lane = group[0][0]
                    self._busy = (lane, time.monotonic())
                began = time.perf_counter()
                self._score(lane, group)
                self._timed(lane, time.perf_counter() - began)

    def _timed(self, lane: BatchFn, seconds: float) -> None:
        """Note a call's time; move the lane apart once its calls prove slow."""
        calls, average = self._timing.get(lane, (0, seconds))
        average = seconds if not calls else 0.8 * average + 0.2 * seconds
        self._timing[lane] = (calls + 1, average)
        others = [a for f, (c, a) in self._timing.items() if f is not lane and c]
        if calls + 1 >= _SLOW_AFTER_CALLS and others and average > 2 * min(others) + SLOW_MARGIN_S:
            why = (
                f"calls take {average * 1000:.1f} ms on average, the other version's "
                f"{min(others) * 1000:.1f} ms"
            )
            with self._ready:
                self._move_apart(lane, why)
            self._timing.pop(lane, None)

    def _score(self, fn: BatchFn, batch: list[_Entry]) -> None:
        items = [item for _, item, _ in batch]
        try:
            results: Sequence[Any] = fn(items)
            if len(results) != len(items):
                raise RuntimeError(f"batch function returned {len(results)} for {len(items)}")
        except BaseException as exc:  # the whole call failed: every item fails with it
            results = [exc] * len(items)
        self.calls += 1
        self.items += len(items)
        # one wake-up of the loop per call; futures of different loops are grouped
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for (_, _, future), result in zip(batch, results, strict=True):
            by_loop.setdefault(future.get_loop(), []).append((future, result))
        for loop, pairs in by_loop.items():
            # a closed loop: nobody is waiting any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, pairs)


class Lane:
    """One version's way into a shared :class:`MicroBatcher`: its items join the same
    windows as the other versions', are scored by its own function, and it closes alone
    (a retired candidate) while the batcher serves on."""

    def __init__(self, batcher: MicroBatcher, fn: BatchFn) -> None:
        self.batcher = batcher
        self.fn = fn

    @property
    def max_batch(self) -> int:
        return self.batcher.max_batch

    @property
    def depth(self) -> int:
        return self.batcher.depth

    def submit(self, item: Any) -> asyncio.Future[Any]:
        return self.batcher.submit(item, self.fn)

    def close(self, timeout_s: float = 10.0) -> None:
        self.batcher.close_lane(self.fn, timeout_s)


def _resolve(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in pairs:
        if future.done():  # the request gave up (deadline) and answered with the fallback
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class LoopBatcher:
    """Scores on the event loop: everything submitted before the loop's next turn, at once."""

    def __init__(self, fn: BatchFn, *, max_batch: int = 64) -> None:
        self.fn = fn
        self.max_batch = max(1, max_batch)
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self.calls = 0
        self.items = 0

    @property
    def depth(self) -> int:
        return len(self._pending)

    def submit(self, item: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            # runs after the callbacks already ready: the requests parsed in this turn
            loop.call_soon(self._flush)
        self._pending.append((item, future))
        return future

    def close(self, timeout_s: float = 10.0) -> None:
        """Nothing to stop: pending items are scored on the loop's next turn."""

    def _flush(self) -> None:
        pending = self._pending
        while pending:
            batch = pending[: self.max_batch]
            del pending[: self.max_batch]
            items = [item for item, _ in batch]
            try:
                results: Sequence[Any] = self.fn(items)
            except Exception as exc:
                results = [exc] * len(items)
            self.calls += 1
            self.items += len(items)
            _resolve([(future, result) for (_, future), result in zip(batch, results, strict=True)])

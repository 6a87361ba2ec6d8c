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
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["BatcherClosed", "LoopBatcher", "MicroBatcher"]

#: a batch function returns one result per item; an Exception instance fails that item
BatchFn = Callable[[Sequence[Any]], Sequence[Any]]


class BatcherClosed(RuntimeError):
    """The batcher was closed (its runtime was replaced); nothing was queued."""


class MicroBatcher:
    def __init__(self, fn: BatchFn, *, max_batch: int = 64, name: str = "model") -> None:
        self.fn = fn
        self.max_batch = max(1, max_batch)
        self._queue: deque[tuple[Any, asyncio.Future[Any]]] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"batcher-{name}", daemon=True)
        self._thread.start()
        #: model calls made and items scored, for the batch-size metric
        self.calls = 0
        self.items = 0

    @property
    def depth(self) -> int:
        return len(self._queue)

    def submit(self, item: Any) -> asyncio.Future[Any]:
        """Queue ``item``; the future resolves on the caller's loop with its result."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        with self._ready:
            if self._closed:
                raise BatcherClosed("the batcher is closed")
            self._queue.append((item, future))
            self._ready.notify()
        return future

    def close(self, timeout_s: float = 10.0) -> None:
        """Score what is queued, then stop the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        queue = self._queue
        while True:
            with self._ready:
                while not queue and not self._closed:
                    self._ready.wait()
                if not queue and self._closed:
                    return
                n = min(len(queue), self.max_batch)
                batch = [queue.popleft() for _ in range(n)]
            self._score(batch)

    def _score(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results: Sequence[Any] = self.fn(items)
            if len(results) != len(items):
                raise RuntimeError(f"batch function returned {len(results)} for {len(items)}")
        except BaseException as exc:  # the whole call failed: every item fails with it
            results = [exc] * len(items)
        self.calls += 1
        self.items += len(items)
        # one wake-up of the loop per batch; futures of different loops are grouped
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for (_, future), result in zip(batch, results, strict=True):
            by_loop.setdefault(future.get_loop(), []).append((future, result))
        for loop, pairs in by_loop.items():
            # a closed loop: nobody is waiting any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, pairs)


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
                # checked as the thread's batcher does: a short answer would leave futures
                # unresolved and the rest pending, with no flush scheduled for them again
                if len(results) != len(items):
                    raise RuntimeError(f"batch function returned {len(results)} for {len(items)}")
            except Exception as exc:
                results = [exc] * len(items)
            self.calls += 1
            self.items += len(items)
            _resolve([(future, result) for (_, future), result in zip(batch, results, strict=True)])

"""Circuit breaker and micro-batcher behaviour."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from modelward.serving.batcher import MicroBatcher
from modelward.serving.resilience import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_repeated_failures_and_half_opens_with_one_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker("m", threshold=3, reset_s=5.0)
    breaker._now = clock
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now = 5.0
    assert breaker.allow()  # the one probe
    assert breaker.state is BreakerState.HALF_OPEN and not breaker.allow()
    breaker.failure()  # a failed probe opens it again
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.allow()


def test_requests_waiting_while_the_worker_is_busy_are_scored_in_one_call() -> None:
    gate = threading.Event()
    busy = threading.Event()
    calls: list[int] = []

    def fn(items: Sequence[Any]) -> list[Any]:
        busy.set()
        gate.wait(5)
        calls.append(len(items))
        return [i * 2 for i in items]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(fn, max_batch=64)
        first = batcher.submit(0)  # occupies the worker until the gate opens
        assert await asyncio.to_thread(busy.wait, 5)
        rest = [batcher.submit(i) for i in range(1, 11)]
        gate.set()
        results = await asyncio.gather(first, *rest)
        batcher.close()
        return results

    assert asyncio.run(scenario()) == [i * 2 for i in range(11)]
    assert calls == [1, 10]


def test_a_failing_batch_fails_each_of_its_requests() -> None:
    def fn(items: Sequence[Any]) -> list[Any]:
        raise RuntimeError("model crashed")

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(fn)
        results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        batcher.close()
        return results

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(scenario()))

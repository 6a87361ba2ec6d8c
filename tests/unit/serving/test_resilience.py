"""Circuit breaker and micro-batcher behaviour."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from modelward.serving.batcher import BatcherClosed, MicroBatcher
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


def test_two_lanes_waiting_share_one_window_and_each_is_scored_by_its_own_function() -> None:
    gate = threading.Event()
    busy = threading.Event()
    calls: list[tuple[str, int]] = []

    def blue(items: Sequence[Any]) -> list[Any]:
        busy.set()
        gate.wait(5)
        calls.append(("blue", len(items)))
        return [("blue", i) for i in items]

    def green(items: Sequence[Any]) -> list[Any]:
        calls.append(("green", len(items)))
        return [("green", i) for i in items]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(blue, max_batch=64)
        lane = batcher.lane(green)
        first = batcher.submit(0)  # occupies the one worker
        assert await asyncio.to_thread(busy.wait, 5)
        waiting = [batcher.submit(1), lane.submit(2), batcher.submit(3), lane.submit(4)]
        gate.set()
        results = await asyncio.gather(first, *waiting)
        batcher.close()
        return results

    results = asyncio.run(scenario())
    assert results == [("blue", 0), ("blue", 1), ("green", 2), ("blue", 3), ("green", 4)]
    # the window of four: one call per lane, not one per item or per thread
    assert calls == [("blue", 1), ("blue", 2), ("green", 2)]


def test_a_closed_lane_refuses_new_items_while_the_batcher_serves_on() -> None:
    async def scenario() -> Any:
        batcher = MicroBatcher(lambda items: list(items))
        lane = batcher.lane(lambda items: [-i for i in items])
        assert await lane.submit(1) == -1
        lane.close()
        with pytest.raises(BatcherClosed):
            lane.submit(2)
        kept = await batcher.submit(3)
        batcher.close()
        return kept

    assert asyncio.run(scenario()) == 3


def test_a_lane_stuck_past_the_stall_time_no_longer_holds_up_the_other() -> None:
    gate = threading.Event()
    stuck = threading.Event()

    def hung(items: Sequence[Any]) -> list[Any]:
        stuck.set()
        gate.wait(10)
        return list(items)

    async def scenario() -> tuple[Any, bool, int]:
        # stall_s=0: any call of one lane is a stall as soon as another lane has work
        batcher = MicroBatcher(lambda items: [i * 10 for i in items], stall_s=0.0)
        lane = batcher.lane(hung)
        held = lane.submit(1)
        assert await asyncio.to_thread(stuck.wait, 5)
        answered = await asyncio.wait_for(batcher.submit(2), timeout=10)
        still_stuck = not gate.is_set() and not held.done()
        apart = batcher.apart
        gate.set()
        await held
        batcher.close()
        return answered, still_stuck, apart

    assert asyncio.run(scenario()) == (20, True, 1)


def test_a_lane_whose_calls_prove_slow_gets_a_thread_of_its_own() -> None:
    threads: dict[str, list[int]] = {"fast": [], "slow": []}

    def fast(items: Sequence[Any]) -> list[Any]:
        threads["fast"].append(threading.get_ident())
        return list(items)

    def slow(items: Sequence[Any]) -> list[Any]:
        threads["slow"].append(threading.get_ident())
        time.sleep(0.01)  # the model itself is slow (+10 ms a call), not the test waiting
        return list(items)

    async def scenario() -> tuple[list[int], int, list[int]]:
        batcher = MicroBatcher(fast)
        lane = batcher.lane(slow)
        for i in range(8):
            await batcher.submit(i)
            await lane.submit(i)
        first, apart = list(threads["slow"]), batcher.apart
        threads["slow"].clear()
        for i in range(3):
            await lane.submit(i)
        batcher.close()
        return first, apart, list(threads["slow"])

    first, apart, later = asyncio.run(scenario())
    shared = set(threads["fast"])
    assert len(shared) == 1 and first[0] in shared  # it began on the shared thread
    assert apart == 1
    assert later and not shared & set(later)  # and went on on its own

"""Micro-batching: requests waiting together share one model call, each gets its own answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from modelward.serving.batcher import BatcherClosed, LoopBatcher, MicroBatcher


class GatedDouble:
    """Doubles each item; the first call waits for ``gate`` so later items queue behind it."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[Any]] = []

    def __call__(self, items: Sequence[Any]) -> list[Any]:
        self.entered.set()
        self.gate.wait(10)
        self.batches.append(list(items))
        return [ValueError(f"bad {i}") if i == "bad" else i * 2 for i in items]


async def _queued_behind_a_busy_worker(batcher: MicroBatcher, fn: GatedDouble, items: list[Any]):
    first = batcher.submit(0)
    await asyncio.to_thread(fn.entered.wait, 10)  # the worker holds item 0 in its call
    rest = [batcher.submit(i) for i in items]
    fn.gate.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


def test_items_waiting_together_share_one_call_and_keep_their_order() -> None:
    fn = GatedDouble()
    batcher = MicroBatcher(fn, max_batch=64)
    try:
        results = asyncio.run(_queued_behind_a_busy_worker(batcher, fn, [1, 2, 3]))
    finally:
        batcher.close()
    assert results == [0, 2, 4, 6]
    assert fn.batches == [[0], [1, 2, 3]]  # item 0 was alone; the three waiting went together
    assert (batcher.calls, batcher.items) == (2, 4)


def test_max_batch_caps_a_call_and_the_rest_waits_for_the_next() -> None:
    fn = GatedDouble()
    batcher = MicroBatcher(fn, max_batch=2)
    try:
        results = asyncio.run(_queued_behind_a_busy_worker(batcher, fn, [1, 2, 3, 4, 5]))
    finally:
        batcher.close()
    assert results == [0, 2, 4, 6, 8, 10]
    assert fn.batches == [[0], [1, 2], [3, 4], [5]]


def test_a_max_batch_below_one_still_scores_one_item_per_call() -> None:
    assert MicroBatcher(lambda items: list(items), max_batch=0).max_batch == 1
    assert LoopBatcher(lambda items: list(items), max_batch=-3).max_batch == 1


def test_an_exception_in_the_results_fails_only_its_own_item() -> None:
    fn = GatedDouble()
    batcher = MicroBatcher(fn)
    try:
        results = asyncio.run(_queued_behind_a_busy_worker(batcher, fn, [1, "bad", 3]))
    finally:
        batcher.close()
    assert results[:2] == [0, 2] and results[3] == 6
    assert isinstance(results[2], ValueError) and str(results[2]) == "bad bad"


def _crashing(items: Sequence[Any]) -> list[Any]:
    raise ZeroDivisionError("the model crashed")


def _one_short(items: Sequence[Any]) -> list[Any]:
    return list(items)[:-1]


@pytest.mark.parametrize(
    ("fn", "error", "message"),
    [
        (_crashing, ZeroDivisionError, "the model crashed"),
        (_one_short, RuntimeError, "batch function returned"),
    ],
)
def test_a_failed_call_fails_every_item_in_it(fn: Any, error: type, message: str) -> None:
    async def scenario() -> list[Any]:
        gate = threading.Event()
        blocker = MicroBatcher(lambda items: (gate.wait(10), fn(items))[1])
        try:
            futures = [blocker.submit(1), blocker.submit(2)]
            gate.set()
            return await asyncio.gather(*futures, return_exceptions=True)
        finally:
            blocker.close()

    results = asyncio.run(scenario())
    assert all(isinstance(r, error) for r in results)
    # both queued before the gate opened: in one call or two, no item is answered and
    # each carries the reason
    assert all(message in str(r) for r in results)


def test_close_scores_what_is_queued_then_refuses_new_items() -> None:
    fn = GatedDouble()
    batcher = MicroBatcher(fn)

    async def scenario() -> list[Any]:
        first = batcher.submit(1)
        await asyncio.to_thread(fn.entered.wait, 10)
        second = batcher.submit(2)
        fn.gate.set()
        await asyncio.to_thread(batcher.close)
        with pytest.raises(BatcherClosed, match="closed"):
            batcher.submit(3)
        return await asyncio.gather(first, second)

    assert asyncio.run(scenario()) == [2, 4]


def test_a_request_that_gave_up_is_not_answered_twice() -> None:
    fn = GatedDouble()
    batcher = MicroBatcher(fn)

    async def scenario() -> tuple[bool, int]:
        first = batcher.submit(1)
        await asyncio.to_thread(fn.entered.wait, 10)
        first.cancel()  # what the deadline does: the request answered with the fallback
        fn.gate.set()
        later = await batcher.submit(5)  # the worker survived resolving a done future
        return first.cancelled(), later

    try:
        assert asyncio.run(scenario()) == (True, 10)
    finally:
        batcher.close()


def test_the_loop_batcher_scores_one_turn_of_requests_in_one_call() -> None:
    batches: list[list[int]] = []

    def double(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [i * 2 for i in items]

    batcher = LoopBatcher(double, max_batch=2)

    async def scenario() -> list[int]:
        futures = [batcher.submit(i) for i in range(5)]
        assert batcher.depth == 5  # nothing scored before the loop's next turn
        answers = list(await asyncio.gather(*futures))
        answers.append(await batcher.submit(7))  # a later turn: a call of its own
        return answers

    assert asyncio.run(scenario()) == [0, 2, 4, 6, 8, 14]
    assert batches == [[0, 1], [2, 3], [4], [7]]
    assert (batcher.calls, batcher.items, batcher.depth) == (4, 6, 0)


@pytest.mark.parametrize(
    ("fn", "error"), [(_crashing, ZeroDivisionError), (_one_short, RuntimeError)]
)
def test_a_failed_loop_call_fails_its_items_and_the_batcher_keeps_working(
    fn: Any, error: type
) -> None:
    healthy = {"on": False}

    def model(items: Sequence[int]) -> list[int]:
        return [i + 1 for i in items] if healthy["on"] else fn(items)

    batcher = LoopBatcher(model)

    async def scenario() -> tuple[list[Any], int]:
        both = asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        failed = await asyncio.wait_for(both, 5)  # a short answer once left them pending
        healthy["on"] = True
        return failed, await asyncio.wait_for(batcher.submit(3), 5)

    failed, later = asyncio.run(scenario())
    assert all(isinstance(r, error) for r in failed)
    assert later == 4

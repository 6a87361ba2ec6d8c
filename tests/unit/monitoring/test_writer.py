"""The prediction log writer: never blocks, never loses silently, survives a failing sink."""

from __future__ import annotations

import time

from modelward.monitoring.predictions import PredictionLogWriter, PredictionRecord
from modelward.monitoring.predictions.memory import MemoryPredictionSink


def rec(i: int) -> PredictionRecord:
    return PredictionRecord(f"r{i}", i, "e", "m", "1", {"x": i}, i * 0.5, 1.0, False)


def wait_for(condition: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.005)


def test_overflow_is_counted_not_silent() -> None:
    sink = MemoryPredictionSink()
    writer = PredictionLogWriter(sink, capacity=10, batch_size=100)  # not started: queue only
    accepted = writer.submit_many(rec(i) for i in range(25))
    assert accepted == 10
    assert writer.dropped == 15
    assert writer.depth == 10
    assert writer.close() == 0
    assert sink.count() == 10


def test_failing_sink_is_retried_and_nothing_is_lost() -> None:
    sink = MemoryPredictionSink()
    sink.unavailable = True
    writer = PredictionLogWriter(sink, batch_size=4, flush_interval_s=0.01)
    writer.start()
    writer.submit_many(rec(i) for i in range(10))
    wait_for(lambda: writer.write_errors >= 2)
    assert sink.count() == 0 and writer.depth == 10
    sink.unavailable = False
    assert writer.flush(timeout_s=10)
    assert [r.request_id for r in sink.read()] == [f"r{i}" for i in range(10)]
    assert writer.close() == 0 and writer.dropped == 0


def test_close_with_a_dead_sink_reports_and_counts_what_was_lost() -> None:
    sink = MemoryPredictionSink()
    sink.unavailable = True
    writer = PredictionLogWriter(sink, batch_size=4, flush_interval_s=0.01)
    writer.start()
    writer.submit_many(rec(i) for i in range(6))
    assert writer.close(timeout_s=0.3) == 6
    assert writer.dropped == 6


def test_submit_after_close_is_counted_as_dropped() -> None:
    writer = PredictionLogWriter(MemoryPredictionSink())
    writer.close()
    assert not writer.submit(rec(1))
    assert writer.dropped == 1

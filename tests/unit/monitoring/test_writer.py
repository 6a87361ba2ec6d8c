"""The prediction log writer: never blocks, never loses silently, survives a failing sink."""

from __future__ import annotations

import time
from pathlib import Path

from modelward.monitoring.predictions import (
    PredictionLogWriter,
    PredictionRecord,
    QuarantineFile,
    quarantine_path,
)
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.monitoring.predictions.sqlite import SqlitePredictionSink


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


def test_a_record_the_sink_cannot_serialise_is_quarantined_and_the_rest_written(
    tmp_path: Path,
) -> None:
    """#15.1: one bad record once blocked the log (its batch retried forever)."""
    sink = SqlitePredictionSink(tmp_path / "log.db")
    quarantine = QuarantineFile(quarantine_path(tmp_path))
    writer = PredictionLogWriter(sink, batch_size=10, flush_interval_s=0.01, quarantine=quarantine)
    records = [rec(i) for i in range(10)]
    records[3] = records[3]._replace(inputs={"s": "\ud800", "email": "[redacted]"})
    records[7] = records[7]._replace(prediction=2**70)  # past what the JSON encoder holds
    writer.start()
    writer.submit_many(records)
    assert writer.flush(timeout_s=10)
    more = [rec(i) for i in range(10, 15)]  # what comes after the bad batch is written too
    writer.submit_many(more)
    assert writer.flush(timeout_s=10)
    written = [r.request_id for r in sink.read()]
    assert written == [f"r{i}" for i in range(15) if i not in (3, 7)]
    assert writer.quarantined == 2 and writer.dropped == 0
    kept = quarantine.read()
    assert [e["request_id"] for e in kept] == ["r3", "r7"]
    assert all(e["quarantined_for"] == "TypeError" for e in kept)  # orjson's encode error
    assert kept[0]["inputs"] == {"s": "\ud800", "email": "[redacted]"}
    assert (quarantine.path.stat().st_mode & 0o777) == 0o600
    assert writer.close() == 0


def test_an_unreachable_sink_is_never_mistaken_for_a_bad_record() -> None:
    sink = MemoryPredictionSink()
    sink.unavailable = True
    writer = PredictionLogWriter(sink, batch_size=4, flush_interval_s=0.01)
    writer.start()
    writer.submit_many(rec(i) for i in range(4))
    wait_for(lambda: writer.write_errors >= 3)
    sink.unavailable = False
    assert writer.flush(timeout_s=10)
    assert sink.count() == 4 and writer.quarantined == 0
    writer.close()


def test_the_segments_log_gathers_a_second_of_records_per_file_unless_told_otherwise(
    tmp_path: Path,
) -> None:
    from modelward.monitoring.predictions import open_prediction_sink

    segments = open_prediction_sink({"type": "segments"}, tmp_path)
    assert PredictionLogWriter(segments).flush_interval_s == 1.0  # one Parquet file a wake
    tuned = open_prediction_sink({"type": "segments", "flush_interval_s": 0.25}, tmp_path)
    assert PredictionLogWriter(tuned).flush_interval_s == 0.25
    assert PredictionLogWriter(MemoryPredictionSink()).flush_interval_s == 0.1
    assert PredictionLogWriter(segments, flush_interval_s=0.5).flush_interval_s == 0.5
    # a flush does not wait for the interval: what is queued is written now
    writer = PredictionLogWriter(segments)
    writer.start()
    writer.submit(rec(1))
    assert writer.flush(timeout_s=10)
    assert segments.count("e") == 1
    writer.close()

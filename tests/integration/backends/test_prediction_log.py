"""One suite for every prediction log backend: memory, SQLite and Redis (the real server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.errors import ConfigError
from modelward.monitoring.predictions import (
    PredictionLogWriter,
    PredictionRecord,
    PredictionSink,
    open_prediction_sink,
)
from tests import services


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PredictionSink]:
    if request.param == "redis":
        config = {
            "type": "redis",
            "url": services.redis_url(),
            "key_prefix": f"mwtest{uuid.uuid4().hex[:8]}",
        }
    else:
        config = {"type": request.param}
    opened = open_prediction_sink(config, tmp_path)
    yield opened
    if request.param == "redis":
        opened.drop()  # type: ignore[attr-defined]
    opened.close()


def rec(i: int, endpoint: str = "churn", degraded: bool = False) -> PredictionRecord:
    return PredictionRecord(
        request_id=f"req-{i}",
        at_us=1_700_000_000_000_000 + i,
        endpoint=endpoint,
        model="churn",
        model_version="3",
        inputs={"customer_id": i, "email": "[redacted]", "spend": 12.5},
        prediction={"score": 0.25, "label": 1},
        latency_ms=1.5,
        degraded=degraded,
    )


def test_written_records_read_back_equal_and_in_order(sink: PredictionSink) -> None:
    batch = [rec(i) for i in range(5)] + [rec(9, degraded=True)]
    sink.write(batch)
    assert sink.read() == batch
    assert sink.count() == 6


def test_reads_filter_by_endpoint(sink: PredictionSink) -> None:
    sink.write([rec(1, "a"), rec(2, "b"), rec(3, "a")])
    assert [r.request_id for r in sink.read("a")] == ["req-1", "req-3"]
    assert sink.count("b") == 1
    assert sink.count("unknown") == 0
    assert sink.read(limit=2) == [rec(1, "a"), rec(2, "b")]


def test_writer_delivers_every_record_by_close(sink: PredictionSink) -> None:
    writer = PredictionLogWriter(sink, capacity=10_000, batch_size=64, flush_interval_s=0.01)
    writer.start()
    for i in range(2_000):
        assert writer.submit(rec(i))
    assert writer.close(timeout_s=30) == 0
    assert writer.dropped == 0
    assert writer.written == 2_000
    # a closed SQLite or Redis sink reconnects on the next read
    assert sink.count() == 2_000
    assert [r.request_id for r in sink.read(limit=3)] == ["req-0", "req-1", "req-2"]


def test_flush_waits_until_written(sink: PredictionSink) -> None:
    writer = PredictionLogWriter(sink, batch_size=1_000, flush_interval_s=5.0)
    writer.start()
    writer.submit_many(rec(i) for i in range(10))
    assert writer.flush(timeout_s=10)
    assert sink.count() == 10
    assert writer.depth == 0
    writer.close()


def test_unknown_backend_type_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown prediction log sink 'kafka'; known: memory"):
        open_prediction_sink({"type": "kafka"}, tmp_path)
    with pytest.raises(ConfigError, match=r"serving\.prediction_log\.maxlen"):
        open_prediction_sink({"type": "redis", "maxlen": -1}, tmp_path)


def test_rollout_fields_read_back_as_written(sink: PredictionSink) -> None:
    """Shadow and canary analysis split the log by role and release; a failed row says why."""
    shadow = rec(1)._replace(mode="batch", role="shadow", release_id="rel-7", error="")
    failed = rec(2)._replace(role="candidate", release_id="rel-7", error="ModelError")
    sink.write([rec(0), shadow, failed])
    back = sink.read()
    assert back == [rec(0), shadow, failed]
    assert (back[0].mode, back[0].role, back[0].release_id, back[0].error) == (
        "online",
        "primary",
        "",
        "",
    )


def test_a_sqlite_log_from_before_the_rollout_fields_opens_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE predictions (seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT "
        "NULL, at_us INTEGER NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL, "
        "model_version TEXT NOT NULL, inputs TEXT NOT NULL, prediction TEXT NOT NULL, "
        "latency_ms REAL NOT NULL, degraded INTEGER NOT NULL)"
    )
    conn.execute(
        "INSERT INTO predictions (request_id, at_us, endpoint, model, model_version, inputs, "
        "prediction, latency_ms, degraded) VALUES ('old', 1, 'churn', 'churn', '1', '{}', "
        "'0.5', 2.0, 0)"
    )
    conn.commit()
    conn.close()
    sink = open_prediction_sink({"type": "sqlite", "path": str(path)}, tmp_path)
    try:
        sink.write([rec(1)._replace(role="shadow")])
        old, new = sink.read()
        assert (old.request_id, old.role, old.mode, old.prediction) == (
            "old",
            "primary",
            "online",
            0.5,
        )
        assert new == rec(1)._replace(role="shadow")
    finally:
        sink.close()

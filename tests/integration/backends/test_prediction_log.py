"""One suite for every prediction log backend: memory, SQLite, segments (a local folder and
an S3 bucket) and Redis (the real server)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from modelward.errors import ConfigError, InputError, StoreUnavailable
from modelward.monitoring.predictions import (
    PredictionLogWriter,
    PredictionRecord,
    PredictionSink,
    open_prediction_sink,
)
from tests import services


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        "segments",
        "segments-s3",
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PredictionSink]:
    config: dict[str, Any]
    if request.param == "redis":
        config = {
            "type": "redis",
            "url": services.redis_url(),
            "key_prefix": f"mwtest{uuid.uuid4().hex[:8]}",
        }
    elif request.param == "segments-s3":
        # the same segments log on an S3 server (moto's, on 127.0.0.1)
        config = request.getfixturevalue("s3_log_config")
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


class _ReplyLost:
    """A Redis client whose first script call runs on the server, then times out on the way
    back, as a write does when the reply is lost: the writer must retry without a double."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def evalsha(self, *args: Any) -> Any:
        import redis

        answer = self._client.evalsha(*args)
        if not self.lost:
            self.lost += 1
            raise redis.TimeoutError("Timeout reading from socket")
        return answer


@pytest.mark.redis
def test_a_redis_write_retried_after_a_lost_reply_lands_once(tmp_path: Path) -> None:
    """#15.7: retried writes after a timeout once duplicated stream entries (30 seen)."""
    opened = open_prediction_sink(
        {"type": "redis", "url": services.redis_url(), "key_prefix": f"mwt{uuid.uuid4().hex[:8]}"},
        tmp_path,
    )
    sink: Any = opened
    try:
        flaky = _ReplyLost(sink._client)
        sink._write_once.registered_client = flaky
        writer = PredictionLogWriter(sink, batch_size=10, flush_interval_s=0.01)
        writer.start()
        writer.submit_many(rec(i) for i in range(10))
        assert writer.flush(timeout_s=10)
        assert flaky.lost == 1 and writer.write_errors == 1  # it was retried
        assert [r.request_id for r in sink.read()] == [f"req-{i}" for i in range(10)]
        writer.submit_many(rec(i) for i in range(10, 13))  # a new batch is not a retry
        assert writer.flush(timeout_s=10)
        assert sink.count() == 13
        writer.close()
    finally:
        sink.drop()
        sink.close()


def test_a_window_has_typed_columns_for_inputs_and_predictions(sink: PredictionSink) -> None:
    sink.write([rec(1), rec(2)._replace(inputs={"customer_id": 2, "spend": None, "plan": "pro"})])
    window = sink.read_window("churn")
    assert window.num_rows == 2
    inputs = window.column("inputs").combine_chunks()
    assert pa.types.is_int64(inputs.field("customer_id").type)
    assert pa.types.is_floating(inputs.field("spend").type)
    assert inputs.field("spend").to_pylist() == [12.5, None]
    # a field absent from some rows is null there, not an error
    assert inputs.field("plan").to_pylist() == [None, "pro"]
    assert window.column("prediction").to_pylist() == [
        {"score": 0.25, "label": 1},
        {"score": 0.25, "label": 1},
    ]
    assert window.column("at_us").type == pa.int64()
    assert window.column("degraded").to_pylist() == [False, False]


def test_numeric_predictions_are_a_double_column(sink: PredictionSink) -> None:
    sink.write([rec(1)._replace(prediction=0.75), rec(2)._replace(prediction=1)])
    window = sink.read_window("churn")
    assert window.column("prediction").type == pa.float64()
    assert window.column("prediction").to_pylist() == [0.75, 1.0]


def test_windows_filter_by_endpoint_version_and_arrival_time(sink: PredictionSink) -> None:
    base = 1_700_000_000_000_000
    sink.write(
        [
            rec(1)._replace(at_us=base, model_version="3"),
            rec(2)._replace(at_us=base + 10, model_version="4"),
            rec(3)._replace(at_us=base + 20, model_version="3"),
            rec(4, "other")._replace(at_us=base + 10),
        ]
    )
    ids = lambda t: t.column("request_id").to_pylist()  # noqa: E731
    assert ids(sink.read_window("churn")) == ["req-1", "req-2", "req-3"]
    assert ids(sink.read_window("churn", version="3")) == ["req-1", "req-3"]
    # the start is inclusive, the end exclusive
    assert ids(sink.read_window("churn", start_us=base + 10, end_us=base + 20)) == ["req-2"]
    assert sink.read_window("nobody").num_rows == 0
    assert sink.read_window("nobody").column_names[:3] == ["cursor", "request_id", "at_us"]


def test_a_cursor_reads_on_where_the_last_window_stopped(sink: PredictionSink) -> None:
    sink.write([rec(i) for i in range(5)])
    first = sink.read_window("churn", limit=2)
    assert first.column("request_id").to_pylist() == ["req-0", "req-1"]
    cursor = first.column("cursor")[-1].as_py()
    rest = sink.read_window("churn", after=cursor)
    assert rest.column("request_id").to_pylist() == ["req-2", "req-3", "req-4"]
    sink.write([rec(5)])
    newer = sink.read_window("churn", after=rest.column("cursor")[-1].as_py())
    assert newer.column("request_id").to_pylist() == ["req-5"]


def test_a_projected_window_holds_only_the_asked_columns_alike(sink: PredictionSink) -> None:
    base = 1_700_000_000_000_000
    sink.write(
        [
            rec(1)._replace(at_us=base, model_version="3"),
            rec(2)._replace(at_us=base + 10, model_version="4", error="ModelUnavailable"),
            rec(3, degraded=True)._replace(at_us=base + 20, model_version="3"),
        ]
    )
    status = ["at_us", "latency_ms", "error", "degraded"]
    window = sink.read_window("churn", version="3", start_us=base, columns=status)
    assert window.column_names == status
    assert window.column("at_us").to_pylist() == [base, base + 20]
    assert window.column("degraded").to_pylist() == [False, True]
    # the same rows, typed the same, as the whole window's columns
    whole = sink.read_window("churn", version="3", start_us=base)
    assert window.equals(whole.select(status))
    errors = sink.read_window("churn", columns=["error", "request_id"])
    assert errors.to_pydict() == {
        "error": ["", "ModelUnavailable", ""],
        "request_id": ["req-1", "req-2", "req-3"],
    }
    inputs = sink.read_window("churn", columns=["inputs"], limit=1)
    assert inputs.column("inputs").to_pylist() == [rec(1).inputs]
    assert sink.read_window("nobody", columns=status).column_names == status


def test_a_projection_naming_an_unknown_column_is_refused(sink: PredictionSink) -> None:
    sink.write([rec(1)])
    with pytest.raises(InputError, match="columns: 'latency'"):
        sink.read_window("churn", columns=["latency"])


def test_request_ids_are_found_per_endpoint(sink: PredictionSink) -> None:
    sink.write([rec(1), rec(2, "other")])
    assert sink.find_request_ids("churn", ["req-1", "req-2", "req-9"]) == {"req-1"}
    assert sink.find_request_ids("churn", []) == set()


def test_prune_deletes_what_arrived_before_the_cutoff(sink: PredictionSink) -> None:
    now_us = time.time_ns() // 1000
    old = [rec(i)._replace(at_us=now_us - 86_400_000_000) for i in range(3)]
    sink.write(old)
    # Redis trims by write time: a cutoff in the future of the old rows' writing
    cutoff = time.time_ns() // 1000 + 1_000
    deadline = time.monotonic() + 5
    while time.time_ns() // 1000 <= cutoff and time.monotonic() < deadline:
        time.sleep(0.001)
    sink.write([rec(7)._replace(at_us=cutoff + 10)])
    assert sink.prune(cutoff) == 3
    assert sink.read_window("churn").column("request_id").to_pylist() == ["req-7"]
    assert sink.find_request_ids("churn", ["req-0", "req-7"]) == {"req-7"}


def test_text_inputs_stay_text_and_mixed_kinds_still_read(sink: PredictionSink) -> None:
    """ISO-looking text is not turned into timestamps; a field that is a number on one row
    and text on the next is kept as the JSON text of each."""
    sink.write(
        [
            rec(1)._replace(inputs={"signup": "2026-01-01", "code": 7}),
            rec(2)._replace(inputs={"signup": "2026-02-01T10:00:00", "code": "x7"}),
        ]
    )
    inputs = sink.read_window("churn").column("inputs").combine_chunks()
    assert inputs.field("signup").to_pylist() == ["2026-01-01", "2026-02-01T10:00:00"]
    assert inputs.field("code").to_pylist() == ["7", '"x7"']


def _batch_table(rows: int, first: int = 0) -> pa.Table:
    from modelward.monitoring import prediction_table

    inputs = pa.table(
        {
            "customer_id": pa.array(range(first, first + rows), pa.int64()),
            "email": [f"c{i}@example.com" for i in range(first, first + rows)],
            "spend": [12.5 + i / 3 for i in range(first, first + rows)],
            "plan": [None if i % 2 else "pro" for i in range(first, first + rows)],
            "active": [i % 3 == 0 for i in range(first, first + rows)],
        }
    )
    return prediction_table(
        request_ids=[f"run/{i}" for i in range(first, first + rows)],
        at_us=1_700_000_000_000_000,
        model="churn",
        model_version="3",
        inputs=inputs,
        predictions=[i / 7 for i in range(first, first + rows)],
        latency_ms=0.25,
        mode="batch",
        pii={"email"},
    )


def test_a_table_write_reads_back_as_the_same_records_would(sink: PredictionSink) -> None:
    """The columnar write of batch scoring stores what the per-row write stores."""
    table = _batch_table(7)
    sink.write_table("churn", table)
    records = [
        PredictionRecord(
            f"run/{i}",
            1_700_000_000_000_000,
            "per-row",
            "churn",
            "3",
            {
                "customer_id": i,
                "email": "[redacted]",  # the PII field, as the gateway redacts it
                "spend": 12.5 + i / 3,
                "plan": None if i % 2 else "pro",
                "active": i % 3 == 0,
            },
            i / 7,
            0.25,
            False,
            mode="batch",
        )
        for i in range(7)
    ]
    # the same rows through the per-row path, beside them (a microsecond later: Redis
    # would take rows of the same ids and times for a retry of the same write)
    sink.write([r._replace(at_us=r.at_us + 1) for r in records])

    def alike(endpoint: str) -> list[PredictionRecord]:
        return [r._replace(endpoint="", at_us=0) for r in sink.read(endpoint)]

    assert alike("churn") == alike("per-row")
    got = sink.read("churn")
    assert [(r.request_id, r.prediction, r.mode) for r in got] == [
        (f"run/{i}", i / 7, "batch") for i in range(7)
    ]
    assert {r.inputs["email"] for r in got} == {"[redacted]"}
    assert [r.inputs["spend"] for r in got] == [12.5 + i / 3 for i in range(7)]
    window = sink.read_window("churn")
    assert window.column("prediction").to_pylist() == [i / 7 for i in range(7)]
    assert window.column("inputs").combine_chunks().field("email").to_pylist() == ["[redacted]"] * 7
    assert sink.find_request_ids("churn", ["run/3", "run/9"]) == {"run/3"}
    sink.write_table("churn", table.slice(0, 0))  # an empty table adds nothing
    assert sink.count("churn") == 7


def test_a_table_missing_a_column_is_refused_naming_it(sink: PredictionSink) -> None:
    with pytest.raises(ValueError, match="'mode' is missing"):
        sink.write_table("churn", _batch_table(2).drop_columns(["mode"]))
    assert sink.count() == 0


@pytest.mark.redis
def test_a_redis_table_write_retried_after_a_lost_reply_lands_once(tmp_path: Path) -> None:
    opened = open_prediction_sink(
        {
            "type": "redis",
            "url": services.redis_url(),
            "key_prefix": f"mwt{uuid.uuid4().hex[:8]}",
            "table_chunk_rows": 4,
        },
        tmp_path,
    )
    sink: Any = opened
    table = _batch_table(10)
    try:
        flaky = _ReplyLost(sink._client)
        sink._write_once.registered_client = flaky
        with pytest.raises(StoreUnavailable):
            sink.write_table("churn", table)  # the first chunk landed, its reply was lost
        sink.write_table("churn", table)  # the retry: that chunk is not added again
        assert [r.request_id for r in sink.read("churn")] == [f"run/{i}" for i in range(10)]
    finally:
        sink.drop()
        sink.close()


def test_a_rejected_row_written_alone_reads_back_beside_typed_rows(sink: PredictionSink) -> None:
    # what the gateway logs for a 422: every request field, null where it broke its rule
    refused = rec(1)._replace(
        inputs={"customer_id": None, "email": None, "spend": None},
        prediction=None,
        role="rejected",
        error="RequestInvalid: inputs.spend must be a finite number",
    )
    sink.write([refused])  # its own batch: a segment whose inputs are all null
    sink.write([rec(2)._replace(prediction=0.5), rec(3)._replace(prediction=0.5)])
    window = sink.read_window("churn")
    assert window.column("role").to_pylist() == ["rejected", "primary", "primary"]
    assert window.column("error").to_pylist()[0].startswith("RequestInvalid: inputs.spend")
    inputs = window.column("inputs").combine_chunks()
    assert inputs.field("spend").to_pylist() == [None, 12.5, 12.5]
    assert window.column("prediction").to_pylist() == [None, 0.5, 0.5]

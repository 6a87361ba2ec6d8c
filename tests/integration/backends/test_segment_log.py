"""The columnar segments log, on a local folder and on an S3 bucket (moto's server): the
commit protocol. Compaction keeps every row and cursor once; a crash at any step leaves
the old batches or the merged segment counted, never both; two writers never collide; a
retried write lands once; retention prunes; credentials never reach a message."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from modelward.errors import ConfigError, StoreUnavailable
from modelward.monitoring import PredictionRecord, open_prediction_sink, prediction_table
from modelward.monitoring.predictions.locations import (
    ROW_GROUP_ROWS,
    SegmentLocation,
    open_location,
)
from modelward.monitoring.predictions.segments import SegmentPredictionSink
from tests import s3

T0 = 1_700_000_000_000_000


def rec(i: int, spend: object = 12.5, at_us: int | None = None) -> PredictionRecord:
    return PredictionRecord(
        f"req-{i}",
        T0 + i if at_us is None else at_us,
        "churn",
        "churn",
        "3",
        {"customer_id": i, "spend": spend},
        0.25,
        1.5,
        False,
    )


@pytest.fixture(params=["local", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> SegmentLocation:
    if request.param == "local":
        return open_location(str(tmp_path / "log"), tmp_path)
    config = request.getfixturevalue("s3_log_config")
    return open_location(
        config["path"], tmp_path, endpoint_url=config["endpoint_url"], region=config["region"]
    )


class Crash(BaseException):
    """The process dies here: nothing after this step runs (not an OSError to handle)."""


def faulty(location: SegmentLocation, **methods: Callable[..., Any]) -> SegmentLocation:
    """``location`` with some of its steps replaced (a crash, a lost reply)."""
    cls = type("Faulty", (SegmentLocation,), methods)
    fields = {f.name: getattr(location, f.name) for f in dataclasses.fields(location)}
    made: SegmentLocation = cls(**fields)
    return made


def ids(sink: SegmentPredictionSink) -> list[str]:
    return sink.read_window("churn").column("request_id").to_pylist()


def batches(location: SegmentLocation) -> list[str]:
    return sorted(n for n in location.names("churn") if not n.endswith(".c.parquet"))


def merged(location: SegmentLocation) -> list[str]:
    return sorted(n for n in location.names("churn") if n.endswith(".c.parquet"))


def test_compaction_merges_batches_keeping_each_row_and_its_cursor(
    location: SegmentLocation,
) -> None:
    sink = SegmentPredictionSink(location, compact_files=4, segment_rows=1_000)
    for b in range(3):
        sink.write([rec(10 * b + i) for i in range(10)])
    before = sink.read_window("churn")
    middle = before.column("cursor")[14].as_py()
    sink.write([rec(30 + i) for i in range(10)])  # the fourth batch: compaction
    assert batches(location) == [] and len(merged(location)) == 1
    after = sink.read_window("churn")
    assert after.column("request_id").to_pylist() == [f"req-{i}" for i in range(40)]
    assert after.column("cursor").to_pylist()[:30] == before.column("cursor").to_pylist()
    # a cursor taken before the compaction reads on from the same row
    on = sink.read_window("churn", after=middle)
    assert on.column("request_id").to_pylist()[0] == "req-15" and on.num_rows == 25
    assert sink.count("churn") == 40


def test_a_batch_of_a_whole_row_group_stays_a_segment_and_small_batches_still_merge(
    tmp_path: Path,
) -> None:
    # a batch scoring part is written once: merging it would rewrite every row
    location = open_location(str(tmp_path / "log"), tmp_path)
    sink = SegmentPredictionSink(location, compact_files=3)
    n = ROW_GROUP_ROWS
    part = prediction_table(
        request_ids=pa.array([f"run/{i}" for i in range(n)]),
        at_us=T0,
        model="churn",
        model_version="3",
        inputs=pa.table({"spend": pa.array(range(n), pa.float64())}),
        predictions=pa.array([0.5] * n),
        latency_ms=0.1,
    )
    sink.write([rec(i) for i in range(10)])
    sink.write_table("churn", part)
    sink.write([rec(10 + i) for i in range(10)])
    sink.write([rec(20 + i) for i in range(10)])  # the third small batch: a compaction
    sink.close()
    assert len(batches(location)) == 2  # the part, and the first small batch beside it
    assert len(merged(location)) == 1  # the two small batches after the part
    reader = SegmentPredictionSink(location)
    assert reader.count("churn") == n + 30
    got = reader.read_window("churn").column("request_id").to_pylist()
    assert got == [
        *(f"req-{i}" for i in range(10)),
        *(f"run/{i}" for i in range(n)),
        *(f"req-{i}" for i in range(10, 30)),
    ]


def _reads_each_row_once(location: SegmentLocation) -> None:
    reader = SegmentPredictionSink(location)  # a monitor run, after the crash
    assert reader.count("churn") == 30
    assert ids(reader) == [f"req-{i}" for i in range(30)]
    assert reader.find_request_ids("churn", ["req-3", "req-29", "nope"]) == {"req-3", "req-29"}
    assert reader.read_window("churn", limit=12).num_rows == 12


def test_a_crash_after_the_merged_put_before_the_deletes_counts_each_row_once(
    location: SegmentLocation,
) -> None:
    def delete(self: SegmentLocation, endpoint: str, name: str) -> None:
        raise Crash

    writer = SegmentPredictionSink(faulty(location, delete=delete), compact_files=1_000)
    _own_three(location, writer)
    with pytest.raises(Crash):
        writer.compact("churn")
    assert len(merged(location)) == 1 and len(batches(location)) == 3  # both there
    _reads_each_row_once(location)
    # the next compaction of any writer deletes the covered leftovers
    cleaner = SegmentPredictionSink(location, compact_files=2)
    cleaner.write([rec(30)])
    cleaner.write([rec(31)])
    assert batches(location) == [] and ids(cleaner) == [f"req-{i}" for i in range(32)]


def _own_three(location: SegmentLocation, writer: SegmentPredictionSink) -> None:
    """Three batches of ``writer``'s own (only a writer compacts its own)."""
    for b in range(3):
        writer.write([rec(10 * b + i) for i in range(10)])


def test_a_crash_midway_through_the_deletes_counts_each_row_once(
    location: SegmentLocation,
) -> None:
    done: list[str] = []

    def delete(self: SegmentLocation, endpoint: str, name: str) -> None:
        if done:
            raise Crash
        SegmentLocation.delete(self, endpoint, name)
        done.append(name)

    writer = SegmentPredictionSink(faulty(location, delete=delete), compact_files=1_000)
    _own_three(location, writer)
    with pytest.raises(Crash):
        writer.compact("churn")
    assert len(merged(location)) == 1 and len(batches(location)) == 2
    _reads_each_row_once(location)


def test_a_crash_before_the_merged_put_completes_leaves_the_batches(
    location: SegmentLocation,
) -> None:
    def put(self: SegmentLocation, endpoint: str, name: str, table: pa.Table) -> None:
        if name.endswith(".c.parquet"):
            raise Crash  # an S3 multipart upload never completed is no object at all
        SegmentLocation.put(self, endpoint, name, table)

    writer = SegmentPredictionSink(faulty(location, put=put), compact_files=1_000)
    _own_three(location, writer)
    with pytest.raises(Crash):
        writer.compact("churn")
    assert merged(location) == [] and len(batches(location)) == 3
    _reads_each_row_once(location)


def test_two_writers_never_collide_and_read_in_cursor_order(location: SegmentLocation) -> None:
    """Two gateway workers write and compact the same endpoint at once."""
    workers = [SegmentPredictionSink(location, compact_files=3) for _ in range(2)]
    assert workers[0].writer_id != workers[1].writer_id
    errors: list[BaseException] = []

    def work(sink: SegmentPredictionSink, first: int) -> None:
        try:
            for b in range(10):
                sink.write([rec(first + 10 * b + i) for i in range(10)])
            sink.close()  # merges what it has left
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w, 1_000 * k)) for k, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    reader = SegmentPredictionSink(location)
    window = reader.read_window("churn")
    got = window.column("request_id").to_pylist()
    assert sorted(got) == sorted(f"req-{k * 1_000 + i}" for k in range(2) for i in range(100))
    assert len(set(got)) == 200 and reader.count("churn") == 200
    cursors = window.column("cursor").to_pylist()
    assert cursors == sorted(cursors)  # their compacted segments interleave in time
    # each merged its own batches (a lone last one stays a batch), nobody else's
    left = batches(location)
    assert len(left) <= 2 and len({n.split("-")[1] for n in left}) == len(left)
    writers = {w.writer_id for w in workers}
    assert {n.split("-")[1] for n in merged(location)} == writers
    tail = reader.read_window("churn", after=cursors[149])
    assert tail.column("cursor").to_pylist() == cursors[150:]


def test_a_write_whose_reply_was_lost_lands_once_when_retried(
    location: SegmentLocation,
) -> None:
    lost: list[str] = []

    def put(self: SegmentLocation, endpoint: str, name: str, table: pa.Table) -> None:
        SegmentLocation.put(self, endpoint, name, table)
        if not lost:
            lost.append(name)
            raise OSError("connection reset after the upload")  # stored, reply lost

    sink = SegmentPredictionSink(faulty(location, put=put))
    batch = [rec(i) for i in range(5)]
    with pytest.raises(StoreUnavailable, match="connection reset"):
        sink.write(batch)
    sink.write(batch)  # the writer thread retries the same batch
    assert ids(sink) == [f"req-{i}" for i in range(5)] and len(batches(location)) == 1


def test_retention_prunes_whole_and_straddling_segments(location: SegmentLocation) -> None:
    now = int(time.time() * 1e6)
    day = 86_400_000_000
    sink = SegmentPredictionSink(location, compact_files=3, retention_days=7)
    sink.write([rec(i, at_us=now - 30 * day + i) for i in range(5)])  # a month old
    sink.write([rec(5, at_us=now - 8 * day), rec(6, at_us=now - day)])  # straddles the cut
    sink.write([rec(7, at_us=now)])  # the third batch: compaction, with retention first
    assert ids(sink) == ["req-6", "req-7"]
    assert sink.prune(now + 1) == 2 and sink.count() == 0


def test_a_field_typed_differently_in_two_batches_reads_as_json_text(
    location: SegmentLocation,
) -> None:
    sink = SegmentPredictionSink(location, compact_files=2)
    sink.write([rec(1, spend=12.5)])
    sink.write([rec(2, spend="twelve")])  # a second batch: compaction refuses to merge them
    assert len(batches(location)) == 2
    window = sink.read_window("churn")
    spend = window.column("inputs").combine_chunks().field("spend").to_pylist()
    assert spend == ["12.5", '"twelve"']
    assert window.column("inputs").combine_chunks().field("customer_id").to_pylist() == [1, 2]
    assert sink.find_request_ids("churn", ["req-1", "req-2", "req-9"]) == {"req-1", "req-2"}


def test_an_unreachable_bucket_is_a_clear_error_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    s3.use_credentials(monkeypatch)
    closed = s3.free_port()  # nothing listens there
    sink = open_prediction_sink(
        {
            "type": "segments",
            "path": "s3://modelward-test/prod",
            "endpoint_url": f"http://127.0.0.1:{closed}",
        },
        tmp_path,
    )
    caplog.set_level(logging.DEBUG)
    for attempt in (lambda: sink.write([rec(1)]), lambda: sink.read_window("churn")):
        with pytest.raises(StoreUnavailable) as caught:
            attempt()
        message = str(caught.value)
        assert "segments:s3://modelward-test/prod" in message
        assert s3.SECRET_KEY not in message and s3.SECRET_KEY not in repr(caught.value)
    sink.close()
    assert s3.SECRET_KEY not in caplog.text


@pytest.mark.parametrize(
    ("path", "endpoint_url", "rule"),
    [
        ("gs://bucket/log", "", r"path: .*must be s3://bucket/prefix"),
        ("s3://", "", r"path: .*names a bucket"),
        ("s3://bucket/log?region=eu", "", r"path: .*has no query"),
        ("s3://bucket/log", "ftp://minio:9000", r"endpoint_url: .*http://host:port"),
    ],
)
def test_a_bad_location_is_refused_naming_the_setting(
    tmp_path: Path, path: str, endpoint_url: str, rule: str
) -> None:
    config = {"type": "segments", "path": path, "endpoint_url": endpoint_url}
    with pytest.raises(ConfigError, match=rf"serving\.prediction_log\.{rule}"):
        open_prediction_sink(config, tmp_path)


def test_credentials_in_the_url_are_refused_without_echoing_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"credentials do not go in the URL") as caught:
        open_prediction_sink({"type": "segments", "path": "s3://AKIA:hunter2@bucket/x"}, tmp_path)
    assert "hunter2" not in str(caught.value)


def _legacy(location: SegmentLocation, name: str, first: int, rows: int) -> pa.Table:
    """A file of the layout before writer ids, holding ``rows`` records from ``first``."""
    scratch = SegmentPredictionSink(location)
    scratch.write([rec(first + i) for i in range(rows)])
    (written,) = [n for n in batches(location) if scratch.writer_id in n]
    table = location.read("churn", written)
    location.delete("churn", written)
    stem = name.removesuffix(".parquet").removesuffix(".c")
    cursors = pa.array([f"{stem}/{i:07d}" for i in range(rows)], pa.string())
    table = table.set_column(table.schema.get_field_index("cursor"), "cursor", cursors)
    location.put("churn", name, table)
    return table


def test_files_of_the_layout_before_writer_ids_still_read_once(
    location: SegmentLocation,
) -> None:
    one, two = "01700000000000000001-0004242-000000001", "01700000000000000002-0004242-000000002"
    parts = [_legacy(location, f"{one}.parquet", 0, 3), _legacy(location, f"{two}.parquet", 3, 3)]
    # a legacy compaction that stopped before its deletes: it names its sources
    whole = pa.concat_tables(parts).replace_schema_metadata(
        {b"modelward.compacted_from": f'["{one}.parquet","{two}.parquet"]'.encode()}
    )
    location.put("churn", f"{one}.c.parquet", whole)
    sink = SegmentPredictionSink(location, compact_files=2)
    assert ids(sink) == [f"req-{i}" for i in range(6)] and sink.count("churn") == 6
    sink.write([rec(6)])
    sink.write([rec(7)])  # a compaction: the covered legacy files go, the rest stays
    assert batches(location) == [] and ids(sink) == [f"req-{i}" for i in range(8)]
    assert sink.prune(T0 + 2) == 2 and ids(sink)[0] == "req-2"


def test_a_forked_worker_writes_under_its_own_writer_id(tmp_path: Path) -> None:
    """A sink opened before the server forks its workers: each process names its own."""
    import multiprocessing

    location = open_location(str(tmp_path / "log"), tmp_path)
    sink = SegmentPredictionSink(location, compact_files=2)
    sink.write([rec(0)])
    child = multiprocessing.get_context("fork").Process(
        target=lambda: sink.write([rec(1)]) or sink.write([rec(2)]) or sink.close()
    )
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    sink.write([rec(3)])  # the parent's second batch: its compaction, of its own only
    writers = {n.split("-")[1] for n in location.names("churn")}
    assert len(writers) == 2
    assert ids(SegmentPredictionSink(location)) == [f"req-{i}" for i in range(4)]

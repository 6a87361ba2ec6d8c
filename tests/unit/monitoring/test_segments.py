"""The columnar segments log: compaction keeps every row and cursor once, a crash midway
leaves no duplicate, retention prunes, and differently typed batches still read."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.parquet as pq

from modelward.monitoring import PredictionRecord
from modelward.monitoring.predictions.segments import SegmentPredictionSink

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


def test_compaction_merges_batches_keeping_each_row_and_its_cursor(tmp_path: Path) -> None:
    sink = SegmentPredictionSink(tmp_path, compact_files=4, segment_rows=1_000)
    for b in range(3):
        sink.write([rec(10 * b + i) for i in range(10)])
    before = sink.read_window("churn")
    middle = before.column("cursor")[14].as_py()
    sink.write([rec(30 + i) for i in range(10)])  # the fourth small file: compaction
    files = sorted(p.name for p in (tmp_path / "churn").glob("*.parquet"))
    assert len(files) == 1 and files[0].endswith(".c.parquet")
    after = sink.read_window("churn")
    assert after.column("request_id").to_pylist() == [f"req-{i}" for i in range(40)]
    assert after.column("cursor").to_pylist()[:30] == before.column("cursor").to_pylist()
    # a cursor taken before the compaction reads on from the same row
    on = sink.read_window("churn", after=middle)
    assert on.column("request_id").to_pylist()[0] == "req-15" and on.num_rows == 25
    assert sink.count("churn") == 40


def test_a_crash_between_the_merged_rename_and_the_deletes_reads_each_row_once(
    tmp_path: Path,
) -> None:
    sink = SegmentPredictionSink(tmp_path, compact_files=1_000)
    for b in range(3):
        sink.write([rec(10 * b + i) for i in range(10)])
    folder = tmp_path / "churn"
    sources = sorted(folder.glob("*.parquet"))
    kept = [pq.read_table(p) for p in sources]
    sink.compact("churn")
    for p, table in zip(sources, kept, strict=True):  # as if the deletes never happened
        pq.write_table(table, p)
    assert len(list(folder.glob("*.parquet"))) == 4
    assert sink.count("churn") == 30
    assert sink.read_window("churn").column("request_id").to_pylist() == [
        f"req-{i}" for i in range(30)
    ]
    assert sink.find_request_ids("churn", ["req-3", "nope"]) == {"req-3"}


def test_retention_prunes_whole_and_straddling_segments(tmp_path: Path) -> None:
    now = int(time.time() * 1e6)
    day = 86_400_000_000
    sink = SegmentPredictionSink(tmp_path, compact_files=3, retention_days=7)
    sink.write([rec(i, at_us=now - 30 * day + i) for i in range(5)])  # a month old
    sink.write([rec(5, at_us=now - 8 * day), rec(6, at_us=now - day)])  # straddles the cut
    sink.write([rec(7, at_us=now)])  # the third file: compaction, with retention first
    assert sink.read_window("churn").column("request_id").to_pylist() == ["req-6", "req-7"]
    assert sink.prune(now + 1) == 2 and sink.count() == 0


def test_a_field_typed_differently_in_two_batches_reads_as_json_text(tmp_path: Path) -> None:
    sink = SegmentPredictionSink(tmp_path, compact_files=2)
    sink.write([rec(1, spend=12.5)])
    sink.write([rec(2, spend="twelve")])  # a second file: compaction refuses to merge them
    assert len(list((tmp_path / "churn").glob("*.parquet"))) == 2
    window = sink.read_window("churn")
    spend = window.column("inputs").combine_chunks().field("spend").to_pylist()
    assert spend == ["12.5", '"twelve"']
    assert window.column("inputs").combine_chunks().field("customer_id").to_pylist() == [1, 2]

"""Which objects of the segments log a reader counts, decided from their names alone."""

from __future__ import annotations

from modelward.monitoring.predictions.segment_names import (
    live_segments,
    merged_name,
    overlapping,
    parse,
)

A, B = "0123456789ab", "ba9876543210"


def stem(ns: int, writer: str, seq: int) -> str:
    return f"{ns:020d}-{writer}-{seq:09d}"


def no_legacy(name: str) -> list[str]:
    raise AssertionError(f"no footer is opened for {name}")


def test_a_merged_segment_hides_exactly_its_writers_batches_in_its_range() -> None:
    a = [parse(f"{stem(10 * i, A, i)}.parquet") for i in (1, 2, 3, 4)]
    b2 = f"{stem(25, B, 2)}.parquet"  # another writer's seq 2, inside A's time range
    assert all(s is not None for s in a)
    first, last = a[0], a[2]
    assert first is not None and last is not None
    covering = merged_name(first, last)
    names = [s.name for s in a if s is not None] + [b2, covering, "notes.txt", ".x.tmp"]
    live = [s.name for s in live_segments(names, no_legacy)]
    assert live == [covering, b2, f"{stem(40, A, 4)}.parquet"]


def test_interleaved_writers_are_seen_as_needing_a_sort() -> None:
    mine = merged_name(parse(f"{stem(10, A, 1)}.parquet"), parse(f"{stem(30, A, 3)}.parquet"))  # type: ignore[arg-type]
    theirs = f"{stem(20, B, 1)}.parquet"
    later = f"{stem(40, B, 2)}.parquet"
    assert overlapping(live_segments([mine, theirs], no_legacy))
    assert not overlapping(live_segments([mine, later], no_legacy))


def test_names_of_other_shapes_are_not_segments() -> None:
    assert parse("01700000000000000001-0004242-000000001.parquet") is not None  # legacy
    for name in ("x.parquet", f"{stem(1, 'ZZZZ', 1)}.parquet", f"{stem(1, A, 1)}.c.parquet"):
        assert parse(name) is None

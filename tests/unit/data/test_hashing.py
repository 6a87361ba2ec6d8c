"""Content hashes depend on the rows and the schema, never on how the rows were batched."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.data.hashing import hash_batches

_rows = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(-(2**40), 2**40)),
        st.one_of(st.none(), st.text(max_size=8)),
        st.one_of(st.none(), st.floats(allow_nan=False)),
        st.one_of(st.none(), st.datetimes(min_value=datetime(1970, 1, 2), timezones=st.just(UTC))),
        st.one_of(st.none(), st.booleans()),
    ),
    max_size=300,
)


def _table(rows: list[tuple[object, ...]]) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 5
    return pa.table(
        {
            "i": pa.array(cols[0], pa.int64()),
            "s": pa.array(cols[1], pa.string()),
            "f": pa.array(cols[2], pa.float64()),
            "t": pa.array(cols[3], pa.timestamp("us", tz="UTC")),
            "b": pa.array(cols[4], pa.bool_()),
        }
    )


@settings(max_examples=60, deadline=None)
@given(rows=_rows, size_a=st.integers(1, 50), size_b=st.integers(1, 400))
def test_hash_is_independent_of_batching(
    rows: list[tuple[object, ...]], size_a: int, size_b: int
) -> None:
    table = _table(rows)
    a = hash_batches(table.schema, table.to_batches(max_chunksize=size_a))
    b = hash_batches(table.schema, table.to_batches(max_chunksize=size_b))
    assert a == b


@settings(max_examples=60, deadline=None)
@given(rows=_rows.filter(lambda r: len(r) > 0), data=st.data())
def test_changing_one_value_changes_the_hash(
    rows: list[tuple[object, ...]], data: st.DataObject
) -> None:
    table = _table(rows)
    i = data.draw(st.integers(0, len(rows) - 1))
    old = rows[i][0]
    new = data.draw(st.one_of(st.none(), st.integers(-(2**40), 2**40)).filter(lambda v: v != old))
    changed = [*rows[:i], (new, *rows[i][1:]), *rows[i + 1 :]]
    assert hash_batches(table.schema, table.to_batches()) != hash_batches(
        _table(changed).schema, _table(changed).to_batches()
    )


def test_slices_hash_like_fresh_arrays() -> None:
    full = pa.table({"s": ["x", None, "zz", "w"], "i": [1, None, 3, 4]})
    fresh = pa.table({"s": [None, "zz"], "i": [None, 3]})
    assert hash_batches(full.schema, full.slice(1, 2).to_batches()) == hash_batches(
        fresh.schema, fresh.to_batches()
    )


def test_renaming_or_retyping_a_column_changes_the_hash() -> None:
    t = pa.table({"a": pa.array([1, 2], pa.int64())})
    renamed = pa.table({"b": pa.array([1, 2], pa.int64())})
    retyped = pa.table({"a": pa.array([1, 2], pa.int32())})
    base = hash_batches(t.schema, t.to_batches())
    assert base != hash_batches(renamed.schema, renamed.to_batches())
    assert base != hash_batches(retyped.schema, retyped.to_batches())


def test_time_zone_of_an_instant_does_not_matter() -> None:
    utc = pa.table({"t": pa.array([0, 10**12], pa.timestamp("us", tz="UTC"))})
    paris = pa.table({"t": pa.array([0, 10**12], pa.timestamp("us", tz="Europe/Paris"))})
    assert hash_batches(utc.schema, utc.to_batches()) == hash_batches(
        paris.schema, paris.to_batches()
    )

"""The content hash at its edges: the 65,536-row chunk boundary and wide string types.

The hash is cut into fixed chunks of ``CANONICAL_CHUNK_ROWS`` rows; a table one row past
a chunk is where a slicing or carry-over mistake shows, and no table under 300 rows ever
reaches it. pandas 3 hands Arrow ``large_string`` columns where older versions gave
``string``: the same rows must hash the same either way.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.data import snapshot
from modelward.data.hashing import CANONICAL_CHUNK_ROWS, hash_batches
from modelward.session import Session

ROWS = CANONICAL_CHUNK_ROWS + 1


def _boundary_table(rows: int = ROWS) -> pa.Table:
    # a null every 7th row, so the chunk past the boundary carries a null mask too
    ints = [None if i % 7 == 3 else i * 31 for i in range(rows)]
    texts = [None if i % 7 == 5 else f"r{i}" for i in range(rows)]
    return pa.table({"i": pa.array(ints, pa.int64()), "s": pa.array(texts, pa.string())})


def _hash(table: pa.Table, chunk: int | None = None) -> str:
    return hash_batches(table.schema, table.to_batches(max_chunksize=chunk))


@pytest.fixture(scope="module")
def boundary() -> pa.Table:
    return _boundary_table()


def test_the_chunk_is_what_the_hash_definition_says() -> None:
    assert CANONICAL_CHUNK_ROWS == 65_536


@pytest.mark.parametrize(
    "chunk",
    [
        None,  # one batch of 65,537 rows
        CANONICAL_CHUNK_ROWS,  # a full chunk, then a batch of one row
        CANONICAL_CHUNK_ROWS - 1,  # one row short, then a batch of two crossing the line
        CANONICAL_CHUNK_ROWS + 2,  # a batch bigger than the whole table
        1_000,  # many batches, the boundary falling inside one of them
        40_000,  # the boundary inside the second of two batches
    ],
)
def test_batching_across_the_chunk_boundary_does_not_change_the_hash(
    boundary: pa.Table, chunk: int | None
) -> None:
    assert boundary.num_rows == ROWS
    assert _hash(boundary, chunk) == _hash(boundary, 7_919)


@pytest.mark.parametrize("row", [CANONICAL_CHUNK_ROWS - 1, CANONICAL_CHUNK_ROWS])
def test_the_rows_on_either_side_of_the_boundary_are_hashed(boundary: pa.Table, row: int) -> None:
    ints = boundary.column("i").to_pylist()
    ints[row] = -1
    changed = boundary.set_column(0, "i", pa.array(ints, pa.int64()))
    for chunk in (None, CANONICAL_CHUNK_ROWS, 1_000):
        assert _hash(changed, chunk) != _hash(boundary, chunk)


def test_a_table_of_exactly_one_chunk_differs_from_one_row_more(boundary: pa.Table) -> None:
    one_chunk = boundary.slice(0, CANONICAL_CHUNK_ROWS)
    assert _hash(one_chunk) != _hash(boundary)
    assert _hash(one_chunk, 1_000) == _hash(one_chunk)


# the hash of _boundary_table(), pinned: a change to the chunk size, the null handling or
# the serialisation is a change of the hash definition and must bump its version instead
GOLDEN_BOUNDARY_HASH = "sha256:4217e220fbca38fb0db2faad45beb92ef36fc200d38b225bcdaf92c08d25dd7f"


def test_the_boundary_table_hashes_to_its_golden_value(boundary: pa.Table) -> None:
    assert _hash(boundary) == GOLDEN_BOUNDARY_HASH


# --- string and large_string -------------------------------------------------------------


@pytest.mark.parametrize("wide", [pa.large_string(), pa.string_view()])
def test_a_wide_string_column_hashes_like_a_string_column(wide: pa.DataType) -> None:
    values = ["a", None, "", "zz", None, "ünï"]
    narrow = pa.table({"s": pa.array(values, pa.string()), "n": list(range(6))})
    widened = pa.table({"s": pa.array(values, wide), "n": list(range(6))})
    assert _hash(widened) == _hash(narrow)
    assert _hash(widened, 2) == _hash(narrow, 5)


def test_a_large_binary_column_hashes_like_a_binary_column() -> None:
    values = [b"a", None, b"", b"\x00\xff"]
    narrow = pa.table({"b": pa.array(values, pa.binary())})
    widened = pa.table({"b": pa.array(values, pa.large_binary())})
    assert _hash(widened) == _hash(narrow)


def test_a_large_string_column_still_sees_its_values() -> None:
    one = pa.table({"s": pa.array(["a", "b"], pa.large_string())})
    other = pa.table({"s": pa.array(["a", "c"], pa.large_string())})
    moved_null = pa.table({"s": pa.array([None, "b"], pa.large_string())})
    assert len({_hash(one), _hash(other), _hash(moved_null)}) == 3


def test_snapshots_of_string_and_large_string_files_share_one_content_hash(
    tmp_path: Path, sqlite_workspace: Workspace
) -> None:
    values = [f"customer-{i}" if i % 5 else None for i in range(2_000)]
    narrow, wide = tmp_path / "narrow.parquet", tmp_path / "wide.parquet"
    pq.write_table(pa.table({"id": range(2_000), "s": pa.array(values, pa.string())}), narrow)
    pq.write_table(pa.table({"id": range(2_000), "s": pa.array(values, pa.large_string())}), wide)
    assert pq.read_schema(wide).field("s").type == pa.large_string()
    with Session(sqlite_workspace) as session:
        a = snapshot(narrow, name="narrow", session=session)
        b = snapshot(wide, name="wide", session=session)
    assert a.content_hash == b.content_hash
    assert [c["type"] for c in b.schema] == ["int64", "string"]


# --- every physical type, pinned ---------------------------------------------------------


def _every_type() -> pa.Table:
    """One column per type family the hash fills differently, each with a null in it."""
    from datetime import date, datetime, time
    from decimal import Decimal

    utc = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    return pa.table(
        {
            "b": pa.array([True, None, False], pa.bool_()),
            "i8": pa.array([1, None, -1], pa.int8()),
            "i16": pa.array([300, None, -300], pa.int16()),
            "i32": pa.array([70_000, None, -1], pa.int32()),
            "i64": pa.array([2**40, None, -1], pa.int64()),
            "f": pa.array([1.5, None, -0.0], pa.float64()),
            "s": pa.array(["x", None, ""], pa.string()),
            "bin": pa.array([b"\x01", None, b""], pa.binary()),
            "fixed": pa.array([b"ab", None, b"cd"], pa.binary(2)),
            "d": pa.array([date(2024, 1, 1), None, date(1970, 1, 1)], pa.date32()),
            "t": pa.array([utc, None, utc], pa.timestamp("us", tz="UTC")),
            "naive": pa.array([utc.replace(tzinfo=None), None, None], pa.timestamp("ms")),
            "tod": pa.array([time(1, 2, 3), None, time(0)], pa.time64("us")),
            "dec": pa.array([Decimal("1.25"), None, Decimal("-3.50")], pa.decimal128(9, 2)),
            "dec256": pa.array([Decimal("7.5"), None, Decimal("0")], pa.decimal256(40, 1)),
            "nested": pa.array([[1], None, []], pa.list_(pa.int64())),
        }
    )


# a change here is a change of the hash definition: snapshots taken before would no longer
# be found by content, so bump the version in modelward.data.hashing instead
GOLDEN_EVERY_TYPE_HASH = "sha256:8ca2df3fa74c853b8c53dcc0ff3894db9888d8843cba6db14a19daa73e17ce8a"


def test_every_type_with_nulls_hashes_to_its_golden_value() -> None:
    table = _every_type()
    assert _hash(table) == GOLDEN_EVERY_TYPE_HASH
    assert _hash(table, 1) == GOLDEN_EVERY_TYPE_HASH


@pytest.mark.parametrize("column", _every_type().column_names)
def test_moving_a_null_changes_the_hash_in_every_type(column: str) -> None:
    table = _every_type()
    col = table.column(column).to_pylist()
    moved = [col[1], col[0], col[2]]  # the null goes from row 1 to row 0
    changed = table.set_column(
        table.column_names.index(column), column, pa.array(moved, table.schema.field(column).type)
    )
    assert _hash(changed) != _hash(table)


def test_a_sliced_column_without_nulls_hashes_like_a_fresh_one() -> None:
    full = pa.table({"s": ["skip", "x", "yy"], "i": [9, 1, 2]})
    fresh = pa.table({"s": ["x", "yy"], "i": [1, 2]})
    assert _hash(full.slice(1, 2)) == _hash(fresh)


def test_the_hasher_counts_every_row_once(boundary: pa.Table) -> None:
    from modelward.data.hashing import TableHasher

    hasher = TableHasher(boundary.schema)
    for batch in boundary.to_batches(max_chunksize=30_000):
        hasher.update(batch)
    hasher.hexdigest()
    assert hasher.rows == ROWS
    empty = TableHasher(boundary.schema)
    empty.hexdigest()
    assert empty.rows == 0


def test_a_list_column_with_nulls_can_be_hashed() -> None:
    # pyarrow raises ValueError (not AttributeError) for the bit width of a nested type;
    # the hash once let it escape, so a snapshot of any list column with a null crashed
    table = pa.table({"l": pa.array([[1], None, []], pa.list_(pa.int64()))})
    assert _hash(table) == _hash(table, 1)
    assert _hash(table) != _hash(pa.table({"l": pa.array([[1], [], None], pa.list_(pa.int64()))}))

"""The content hash at its edges: the 65,536-row chunk boundary and wide string types.

The hash is cut into fixed chunks of ``CANONICAL_CHUNK_ROWS`` rows; a table one row past
a chunk is where a slicing or carry-over mistake shows, and no table under 300 rows ever
reaches it. pandas 3 hands Arrow ``large_string`` columns where older versions gave
``string``: the same rows must hash the same either way.
"""

from __future__ import annotations

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

"""Content hashes of tables that depend on the data and its schema, nothing else.

The same rows with the same column names and types hash the same whether they came from
CSV, Parquet or SQL, in batches of any size. Arrow's IPC bytes are not canonical on their
own (a sliced string array keeps its old offsets, and the bytes under a null slot are
whatever the producer left there), so each column is normalised first: a null mask plus
the values with nulls filled, in fixed-size chunks, and only then serialised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import pyarrow as pa

__all__ = [
    "CANONICAL_CHUNK_ROWS",
    "TableHasher",
    "canonical_schema",
    "hash_batches",
    "normalise_batch",
]

#: rows per hashed chunk; part of the hash definition, never change it (bump the version)
CANONICAL_CHUNK_ROWS = 65_536
_VERSION = b"modelward-table-hash-v1\n"

_WIDE_TO_CANONICAL = {
    pa.large_string(): pa.string(),
    pa.string_view(): pa.string(),
    pa.large_binary(): pa.binary(),
    pa.binary_view(): pa.binary(),
}


def _canonical_type(t: pa.DataType) -> pa.DataType:
    if t in _WIDE_TO_CANONICAL:
        return _WIDE_TO_CANONICAL[t]
    if pa.types.is_timestamp(t) and t.tz is not None:
        # an instant is an instant: tz-aware timestamps are stored and hashed in UTC
        return pa.timestamp(t.unit, tz="UTC")
    return t


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, _canonical_type(f.type), nullable=True) for f in schema])


def normalise_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast ``batch`` to the canonical schema (wide string types, time zones)."""
    if batch.schema.equals(schema):
        return batch
    return batch.cast(schema)


def _filled(col: pa.Array) -> pa.Array | None:
    """``col`` with nulls replaced by a zero of its physical type; None if unsupported."""
    t = col.type
    if pa.types.is_boolean(t):
        return col.fill_null(False)
    if pa.types.is_string(t):
        return col.fill_null("")
    if pa.types.is_binary(t):
        return col.fill_null(b"")
    if pa.types.is_fixed_size_binary(t):
        return col.fill_null(pa.scalar(b"\0" * t.byte_width, type=t))
    try:
        width = t.bit_width
    except ValueError:  # nested and variable-width types (lists, structs) have none
        return None
    if width in (8, 16, 32, 64):
        # view as a same-width integer so dates, times and decimals fill with zero bits
        return col.view(getattr(pa, f"int{width}")()).fill_null(0)
    if width in (128, 256):
        raw = pa.binary(width // 8)
        return col.view(raw).fill_null(pa.scalar(b"\0" * (width // 8), type=raw))
    return None


def _canonical_columns(col: pa.Array) -> list[pa.Array]:
    if col.null_count:
        try:
            filled = _filled(col)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
            filled = None
        if filled is not None:
            return [col.is_null(), filled]
    # A fresh copy has offset 0 and compact buffers, so its IPC bytes are canonical.
    return [pa.concat_arrays([col]) if col.offset else col]


class TableHasher:
    """Feed record batches in order; :meth:`hexdigest` covers schema and every row."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = canonical_schema(schema)
        self._sha = hashlib.sha256(_VERSION)
        self._sha.update(
            json.dumps([[f.name, str(f.type)] for f in self.schema], separators=(",", ":")).encode()
        )
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.rows = 0

    def update(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        while self._pending_rows >= CANONICAL_CHUNK_ROWS:
            self._emit(CANONICAL_CHUNK_ROWS)

    def _emit(self, rows: int) -> None:
        pieces, taken = [], 0
        while taken < rows:
            head = self._pending[0]
            need = rows - taken
            if head.num_rows <= need:
                pieces.append(head)
                taken += head.num_rows
                self._pending.pop(0)
            else:
                pieces.append(head.slice(0, need))
                self._pending[0] = head.slice(need)
                taken += need
        self._pending_rows -= rows
        chunk = pieces[0] if len(pieces) == 1 else pa.concat_batches(pieces)
        self._hash_chunk(chunk)

    def _hash_chunk(self, chunk: pa.RecordBatch) -> None:
        arrays: list[pa.Array] = []
        for col in chunk.columns:
            arrays.extend(_canonical_columns(col))
        names = [str(i) for i in range(len(arrays))]
        self._sha.update(pa.RecordBatch.from_arrays(arrays, names=names).serialize())
        self.rows += chunk.num_rows

    def hexdigest(self) -> str:
        if self._pending_rows:
            self._emit(self._pending_rows)
        return self._sha.hexdigest()


def hash_batches(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> str:
    hasher = TableHasher(schema)
    for batch in batches:
        hasher.update(normalise_batch(batch, hasher.schema))
    return "sha256:" + hasher.hexdigest()

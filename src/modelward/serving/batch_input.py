"""What a batch run reads: its input in fixed-size Arrow batches, and the rows that pass.

The input is a Parquet file, a CSV file, a dataset snapshot (``NAME@VERSION``) or a DuckDB
query (``sql:SELECT ...``). It is read ``rows`` at a time, so memory is bounded by one
batch whatever the input's size, and cut at the same row numbers on every run, so part
``i`` of a resumed run is the same rows as part ``i`` of the run that was killed. Its
content hash (the snapshot's, the file's SHA-256, or for a query its text with a hash of
its result) is what makes the output directory content-addressed.

A query runs in an in-memory DuckDB (paths relative to the working directory, as in the
``duckdb`` shell) and is streamed through DuckDB's record batch reader, never collected
whole. It runs twice: once in DuckDB alone to count and hash its rows (vectorised and
parallel, no row reaches Python), then to read them. Its rows must come in a repeatable
order for a killed run to resume on the same rows: give it an ``ORDER BY`` unless it
reads one file in its stored order.

Rows are checked against the endpoint's request schema: the columns are converted in one
vectorised pass, and only the rows that fail are handed to the gateway's own
:class:`~modelward.serving.schema.RequestSchema`, which names the field and the rule, so a
batch row is refused for exactly the reasons an online request would be.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelward.errors import InputError, RequestInvalid
from modelward.serving.endpoints import FieldType
from modelward.serving.schema import RequestSchema

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["SQL_PREFIX", "BatchInput", "Checked", "Hashing", "check_rows", "open_input"]

_SNAPSHOT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}@[0-9]+$")
_TARGET: dict[str, pa.DataType] = {
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "string": pa.string(),
}
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
#: characters of a refused value kept in the rejects file
_VALUE_CHARS = 200


@dataclass(frozen=True)
class BatchInput:
    """An input opened for reading: where it is, its content hash, its row count if known."""

    label: str
    kind: str  # "parquet", "csv", "snapshot" or "sql"
    path: Path
    content_hash: str
    columns: list[str]
    num_rows: int | None
    #: the DuckDB query of a ``sql`` input (empty otherwise)
    query: str = ""

    def hashed(self) -> BatchInput:
        """This input with its content hash (a file opened with ``content_hash=False`` is
        read whole for it here)."""
        if self.content_hash:
            return self
        return dataclasses.replace(self, content_hash=_file_hash(self.path))

    def start_hash(self) -> Hashing:
        """This input's hash started in a process of its own, for a caller with other work
        to do meanwhile (see :class:`Hashing`)."""
        if self.content_hash:
            return Hashing(self, None)
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-c", _HASH_PROCESS, str(self.path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:  # no interpreter to start (an embedded Python): hashed here
            process = None
        return Hashing(self, process)

    def batches(self, rows: int, string_columns: frozenset[str]) -> Iterator[pa.Table]:
        """The input ``rows`` rows at a time (the last batch may be shorter).

        CSV columns in ``string_columns`` are read as text and converted by the schema
        check, so one bad value refuses one row, not the whole file.
        """
        if self.kind == "csv":
            yield from _exactly(_csv_batches(self.path, string_columns), rows)
            return
        if self.kind == "sql":
            yield from _exactly(_sql_batches(self.query, rows), rows)
            return
        import pyarrow.parquet as pq

        # pre_buffer off: with it, the reader keeps every row group it has read buffered
        # until the file is closed (1 GB held after 4M rows of 20 floats), so memory would
        # grow with the input instead of being bounded by a part
        with pq.ParquetFile(self.path, pre_buffer=False) as reader:
            yield from _exactly(reader.iter_batches(batch_size=rows), rows)

    def read_part(self, index: int, rows: int, string_columns: frozenset[str]) -> pa.Table:
        """Part ``index`` alone (rows ``index * rows`` on), the same rows as
        :meth:`batches` yields at that index: for an engine whose workers read their parts
        (Ray). Parquet and snapshots read only the row groups holding the part; a query is
        run with ``LIMIT``/``OFFSET``; CSV cannot be read from the middle."""
        start = index * rows
        if self.kind == "sql":
            import duckdb

            with duckdb.connect() as con:
                table: pa.Table = con.sql(
                    f"SELECT * FROM ({self.query}) AS q LIMIT {int(rows)} OFFSET {int(start)}"
                ).to_arrow_table()
            return table
        if self.kind == "csv":
            raise InputError(
                f"input {self.label}: a CSV file cannot be read from a row in its middle; "
                "score it with the local engine, or as sql:SELECT * FROM read_csv('...')",
                field="input",
            )
        import pyarrow.parquet as pq

        with pq.ParquetFile(self.path, pre_buffer=False) as reader:
            meta = reader.metadata
            groups: list[int] = []
            first = offset = 0
            for group in range(meta.num_row_groups):
                count = meta.row_group(group).num_rows
                if offset + count > start and offset < start + rows:
                    if not groups:
                        first = offset
                    groups.append(group)
                offset += count
            if not groups:
                return reader.schema_arrow.empty_table()
            table = reader.read_row_groups(groups)
        return table.slice(start - first, rows).combine_chunks()


def _exactly(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Re-cut ``batches`` into tables of exactly ``rows`` rows, the last one excepted."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if not held and batch.num_rows == rows:  # the usual case: no copy
            yield pa.Table.from_batches([batch])
            continue
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held)
            yield table.slice(0, rows).combine_chunks()
            rest = table.slice(rows)
            held = rest.to_batches()
            count = rest.num_rows
    if count:
        yield pa.Table.from_batches(held).combine_chunks()


def _csv_batches(path: Path, string_columns: frozenset[str]) -> Iterator[pa.RecordBatch]:
    from pyarrow import csv

    with path.open("rb") as head:
        header = head.readline().decode("utf-8", "replace").strip().split(",")
    types = {name.strip('"'): pa.string() for name in header if name.strip('"') in string_columns}
    try:
        reader = csv.open_csv(path, convert_options=csv.ConvertOptions(column_types=types))
        yield from reader
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: not readable as CSV: {exc}", file=str(path)) from None


SQL_PREFIX = "sql:"


def _sql_batches(query: str, rows: int) -> Iterator[pa.RecordBatch]:
    import duckdb

    with duckdb.connect() as con:
        try:
            reader = con.sql(query).to_arrow_reader(rows)
        except duckdb.Error as exc:
            raise InputError(f"input query: {exc}", field="sql") from None
        yield from reader


def _open_query(query: str) -> BatchInput:
    import duckdb

    text = query.strip().rstrip(";").strip()
    if not text:
        raise InputError("input query: the SQL after 'sql:' is empty", field="sql")
    with duckdb.connect() as con:
        try:
            relation = con.sql(text)
            if relation is None:
                raise InputError("input query: it returns no rows (not a SELECT)", field="sql")
            names = list(relation.columns)
            # hash(*) of every row, summed: DuckDB alone, in parallel, nothing in Python
            summary = con.execute(
                f"SELECT count(*), coalesce(sum(hash(q)), 0)::VARCHAR FROM ({text}) AS q"
            ).fetchone()
            count, total = summary if summary is not None else (0, "0")
        except duckdb.Error as exc:
            raise InputError(f"input query: {exc}", field="sql") from None
    digest = hashlib.sha256(f"{text}\x1f{count}\x1f{total}".encode()).hexdigest()
    label = text if len(text) <= 200 else f"{text[:197]}..."
    return BatchInput(f"sql:{label}", "sql", Path(), digest, names, int(count), query=text)


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


#: _file_hash of the file named by argv[1], printed: what a hashing process runs
_HASH_PROCESS = """
import hashlib, sys
digest = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(1 << 20):
        digest.update(chunk)
print(digest.hexdigest())
"""
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class Hashing:
    """An input's SHA-256 under way in a process of its own.

    Not a thread: a thread's reads and hash steps each take this process's GIL back, and a
    model's call may hold it for a whole part (scikit-learn's gradient boosting does), so
    a hash of 336 MB beside GBM scoring took 7-12 s instead of 1 (2 cores, loaded). The
    process runs on the other core whatever this one does, and costs a bare interpreter's
    start (the ``-I`` flag: no site packages, no environment).
    """

    def __init__(self, source: BatchInput, process: subprocess.Popen[bytes] | None) -> None:
        self._source = source
        self._process = process

    def done(self) -> bool:
        return self._process is None or self._process.poll() is not None

    def result(self) -> BatchInput:
        """The input with its content hash (waiting for the process if need be)."""
        if self._process is None:
            return self._source.hashed()
        out, _ = self._process.communicate()
        digest = out.decode("ascii", "replace").strip()
        if self._process.returncode != 0 or not _HEX_DIGEST.match(digest):
            # the file went away, or the process could not run: here, the same hash or
            # this process's own error about the file
            return self._source.hashed()
        return dataclasses.replace(self._source, content_hash=digest)

    def cancel(self) -> None:
        """Stop the process (the run failed before it needed the hash)."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.communicate()  # its pipe closed, its exit collected


def open_input(
    session: Session | None, source: str | Path, *, content_hash: bool = True
) -> BatchInput:
    """The input ``source`` names: ``sql:QUERY``, an existing ``.parquet``/``.csv`` file,
    else a snapshot.

    ``content_hash=False`` leaves a file's hash (its SHA-256, a read of the whole file) to
    :meth:`BatchInput.hashed`, for a caller that has other work to do meanwhile.
    """
    if isinstance(source, str) and source.startswith(SQL_PREFIX):
        return _open_query(source[len(SQL_PREFIX) :])
    path = Path(source)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            try:
                meta = pq.read_metadata(path)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"{path}: not a Parquet file: {exc}", file=str(path)) from None
            names = meta.schema.to_arrow_schema().names
            digest = _file_hash(path) if content_hash else ""
            return BatchInput(str(path), "parquet", path, digest, names, meta.num_rows)
        if suffix == ".csv":
            with path.open("rb") as head:
                names = head.readline().decode("utf-8", "replace").strip().split(",")
            names = [n.strip('"') for n in names]
            digest = _file_hash(path) if content_hash else ""
            return BatchInput(str(path), "csv", path, digest, names, None)
        raise InputError(
            f"input {path}: expected a .parquet or .csv file (or a snapshot NAME@VERSION)",
            field="input",
        )
    text = str(source)
    if session is not None and _SNAPSHOT_REF.match(text):
        import pyarrow.parquet as pq

        from modelward.data import get_snapshot

        snap = get_snapshot(session, text)
        if not snap.path.exists():
            raise InputError(f"snapshot {snap.ref}: its data file is missing", field="input")
        names = pq.read_schema(snap.path).names
        return BatchInput(snap.ref, "snapshot", snap.path, snap.content_hash, names, snap.row_count)
    raise InputError(
        f"input {text[:200]!r}: no such file, not a snapshot reference NAME@VERSION, "
        "and not a query (sql:SELECT ...)",
        field="input",
    )


@dataclass(frozen=True)
class Checked:
    """One batch after the schema check: the rows that passed, typed as the schema says
    (with their row numbers), and one rejects row per broken rule."""

    good: pa.Table
    #: row_number, field, rule, value: one per broken rule of a refused row
    rejects: pa.Table
    rejected_rows: int


REJECTS_SCHEMA = pa.schema(
    [
        ("row_number", pa.int64()),
        ("field", pa.string()),
        ("rule", pa.string()),
        ("value", pa.string()),
    ]
)


_INT64 = (-(2**63), 2**63 - 1)
_TARGET_CHECK: dict[str, Callable[[Any], bool]] = {
    "float": lambda v: type(v) in (int, float) and np.isfinite(float(v)),
    "int": lambda v: type(v) is int and _INT64[0] <= v <= _INT64[1],
    "bool": lambda v: type(v) is bool,
    "string": lambda v: type(v) is str,
}


def _convert(value: Any, kind: str) -> Any:
    """A CSV text (or a near-miss value) as the schema's type; None when it is not one."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            if kind == "float":
                number = float(text)
                return number if np.isfinite(number) else None
            if kind == "int":
                return int(text)
        except ValueError:
            return None
        if kind == "bool":
            low = text.lower()
            return True if low in _TRUE else False if low in _FALSE else None
        return value
    return value


def _column(table: pa.Table, name: str, kind: str) -> tuple[pa.Array, np.ndarray]:
    """``name`` as the schema's Arrow type, and which rows hold a valid value."""
    target = _TARGET[kind]
    chunked = table.column(name)
    # one chunk (a part read whole): its array as it is, not a copy of it
    column = chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()
    source = column.type
    fits = (
        source == target
        or (kind == "float" and (pa.types.is_integer(source) or pa.types.is_floating(source)))
        or (kind == "int" and pa.types.is_integer(source))
        or (kind == "string" and pa.types.is_large_string(source))
    )
    converted: pa.Array | None = None
    if fits:
        try:
            converted = pc.cast(column, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            converted = None  # a uint64 past int64: per value below
    elif pa.types.is_string(source) or pa.types.is_large_string(source):
        values = [_convert(v, kind) for v in column.to_pylist()]
        try:
            converted = pa.array(values, type=target)
        except (pa.ArrowInvalid, OverflowError):
            converted = None
    if converted is None:
        values = []
        for v in column.to_pylist():
            ok = _TARGET_CHECK[kind](v)
            values.append(v if ok else None)
        converted = pa.array(values, type=target)
    if kind == "float" and len(converted):
        # null where the value is: a null is not finite, so not valid
        finite = pc.fill_null(pc.is_finite(converted), False)
        return converted, np.asarray(finite.to_numpy(zero_copy_only=False), dtype=bool)
    valid = np.asarray(converted.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return converted, valid


def check_rows(
    table: pa.Table,
    fields: Mapping[str, FieldType],
    schema: RequestSchema,
    first_row: int,
    pii: frozenset[str],
) -> Checked:
    """Split ``table`` into the rows that pass ``fields`` and the rejects, naming each rule.

    ``first_row`` is the input row number of the table's first row; values of ``pii``
    fields are never copied into the rejects file.
    """
    n = table.num_rows
    numbers = pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
    ok = np.ones(n, dtype=bool)
    columns: dict[str, pa.Array] = {}
    for name, kind in fields.items():
        converted, valid = _column(table, name, kind)
        columns[name] = converted
        ok &= valid
    rest = [c for c in table.column_names if c not in fields]
    good = pa.table({"row_number": numbers, **columns, **{c: table.column(c) for c in rest}})
    if ok.all():
        return Checked(good, REJECTS_SCHEMA.empty_table(), 0)
    bad = np.flatnonzero(~ok)
    originals = table.select(list(fields)).take(pa.array(bad)).to_pylist()
    reject_rows: list[dict[str, Any]] = []
    for index, original in zip(bad.tolist(), originals, strict=True):
        for field, rule in _broken_rules(original, fields, schema, columns, index):
            shown = original.get(field)
            reject_rows.append(
                {
                    "row_number": first_row + index,
                    "field": field,
                    "rule": rule,
                    "value": "[redacted]" if field in pii else _show(shown),
                }
            )
    return Checked(
        good.filter(pa.array(ok)),
        pa.Table.from_pylist(reject_rows, schema=REJECTS_SCHEMA),
        len(bad),
    )


def _broken_rules(
    original: dict[str, Any],
    fields: Mapping[str, FieldType],
    schema: RequestSchema,
    columns: Mapping[str, pa.Array],
    index: int,
) -> list[tuple[str, str]]:
    """The gateway's verdict on one refused row: (field, rule) pairs."""
    row: dict[str, Any] = {}
    for name in fields:
        value = columns[name][index].as_py()
        if value is None:
            value = original.get(name)
        # a null cell (or an empty CSV cell of a non-text field) is an absent field
        if value is not None and not (value == "" and fields[name] != "string"):
            row[name] = value
    try:
        schema.validate({"inputs": [row]})
    except RequestInvalid as exc:
        found = [
            (str(e["field"]).removeprefix("inputs[0]."), str(e["rule"]))
            for e in exc.details.get("errors", [])
        ]
        if found:
            return found
    # converted but still refused by the vectorised pass (e.g. a CSV cell "abc")
    return [
        (name, f"could not be read as {kind}")
        for name, kind in fields.items()
        if columns[name][index].as_py() is None
    ] or [("row", "refused by the schema")]


def _show(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text[:_VALUE_CHARS]

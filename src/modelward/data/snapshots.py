"""Dataset snapshots: immutable, content-addressed copies of a source, with a record.

A snapshot streams its source through DuckDB in batches, writes Parquet to a private
temporary folder while hashing the rows, validates that copy against its contract (if
any), and only then renames the folder into the content-addressed store and commits the
record with its audit entry. A crash or an error at any point leaves no visible file and
no row; the same content snapshotted again returns the existing snapshot.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from modelward import lineage, security
from modelward.data.engine import connect
from modelward.data.hashing import TableHasher, normalise_batch
from modelward.data.sources import Source, resolve_source
from modelward.data.tables import snapshots as snapshots_table
from modelward.durations import show_duration
from modelward.errors import (
    Conflict,
    ContractViolation,
    InputError,
    NotFound,
    StorageError,
)

if TYPE_CHECKING:
    from modelward.data.contracts import Contract
    from modelward.data.validation import ValidationReport
    from modelward.session import Session

__all__ = [
    "NAME_PATTERN",
    "SchemaDiff",
    "Snapshot",
    "content_hashes",
    "diff_schemas",
    "get_snapshot",
    "list_snapshots",
    "read_snapshot",
    "scan_snapshot",
    "snapshot",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DATA_FILE = "data.parquet"
# rows per Parquet row group: big enough for fast scans, small enough to bound memory
_ROW_GROUP_ROWS = 262_144
_INSERT_ATTEMPTS = 5

ProgressCallback = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Snapshot:
    id: str
    name: str
    version: int
    content_hash: str
    schema: list[dict[str, Any]]
    row_count: int
    byte_size: int
    source: str
    source_kind: str
    storage_path: str
    created_by: str
    created_at: datetime
    path: Path
    contract: dict[str, Any] | None = None
    contract_hash: str | None = None
    validation: dict[str, Any] | None = None
    validation_passed: bool | None = None
    override_reason: str | None = None
    #: False when the snapshot already existed and was returned as it was
    created: bool = True

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["created_at"] = self.created_at.isoformat()
        data["ref"] = self.ref
        return data


@dataclass(frozen=True)
class SchemaDiff:
    old: str
    new: str
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    row_count: tuple[int, int]

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "same": self.same}


# --------------------------------------------------------------------------- creating


def snapshot(
    session: Session,
    source: str | Path,
    *,
    name: str,
    contract: Contract | str | Path | None = None,
    override_reason: str | None = None,
    as_of: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> Snapshot:
    """Take an immutable snapshot of ``source`` (a Parquet/CSV path or DuckDB SQL).

    With a ``contract``, data that violates it is refused with :class:`ContractViolation`
    unless ``override_reason`` is given; the override and the report are recorded.

    >>> snap = snapshot(session, "customers.parquet", name="customers")  # doctest: +SKIP
    >>> snap.ref, snap.content_hash  # doctest: +SKIP
    ('customers@1', 'sha256:3fa2...')
    """
    _check_name(name)
    if override_reason is not None and not override_reason.strip():
        raise InputError(
            "override_reason must say why the contract is overridden", field="override_reason"
        )
    src = resolve_source(source)
    resolved_contract = _load_contract(contract)
    ws = session.workspace
    _sweep_stale_tmp(ws.tmp_dir)

    tmp = ws.tmp_dir / f"snap-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        try:
            tmp.mkdir(parents=True)
            content_hash, schema, rows = _write(session, src, tmp / _DATA_FILE, on_progress)
        except OSError as exc:
            raise _storage_error(exc, name, tmp) from None
        report = None
        if resolved_contract is not None:
            # validated is the private copy; the report names what the user gave
            report = replace(
                _validate(session, tmp / _DATA_FILE, src, resolved_contract, as_of),
                source=src.label,
            )
            if not report.passed and override_reason is None:
                raise ContractViolation(
                    f"snapshot '{name}' of {src.label} refused: data violates contract "
                    f"'{resolved_contract.name}' ({_failures_text(report)}); nothing was "
                    "stored. Fix the data, or store it anyway with a recorded reason "
                    "(CLI: --override-contract REASON; Python: override_reason=...)",
                    report=report.to_dict(),
                    source=src.label,
                )
        final_rel = Path("snapshots") / content_hash[7:9] / content_hash[7:]
        final = ws.home / final_rel
        try:
            byte_size = (tmp / _DATA_FILE).stat().st_size
            _publish(tmp, final)
        except OSError as exc:
            raise _storage_error(exc, name, tmp) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    record = {
        "name": name,
        "content_hash": content_hash,
        "schema": schema,
        "row_count": rows,
        "byte_size": byte_size,
        "source": src.label,
        "source_kind": src.kind,
        "storage_path": str(final_rel / _DATA_FILE),
        "contract": resolved_contract.to_dict() if resolved_contract else None,
        "contract_hash": resolved_contract.content_hash() if resolved_contract else None,
        "validation": report.to_dict() if report else None,
        "validation_passed": report.passed if report else None,
        "override_reason": override_reason if report is not None and not report.passed else None,
    }
    return _insert(session, record)


def _failures_text(report: ValidationReport, shown: int = 10) -> str:
    """``2 rule(s) failed: columns.age.min (observed -3, threshold 0), ...``."""
    from modelward.data.validation import jsonable

    def show(value: Any) -> Any:
        return show_duration(value) if isinstance(value, timedelta) else jsonable(value)

    parts = [
        f"{r.rule} (observed {show(r.observed)}, threshold {show(r.threshold)})"
        for r in report.failures[:shown]
    ]
    more = len(report.failures) - shown
    tail = f", and {more} more" if more > 0 else ""
    return f"{len(report.failures)} rule(s) failed: {', '.join(parts)}{tail}"


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name or ""):
        shown = name if len(name) <= 60 else name[:60] + "..."
        raise InputError(
            f"snapshot name {shown!r} is not allowed: use 1-128 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit",
            field="name",
        )


def _load_contract(contract: Contract | str | Path | None) -> Contract | None:
    if contract is None:
        return None
    from modelward.data.contracts import Contract, load_contract

    return contract if isinstance(contract, Contract) else load_contract(contract)


def _validate(
    session: Session, path: Path, src: Source, contract: Contract, as_of: datetime | None
) -> ValidationReport:
    """Check the private copy at ``path`` of ``src``; a failure to read it names ``src``."""
    from modelward.data.validation import validate

    copy = Source("parquet", str(path))
    try:
        return validate(copy, contract, as_of=as_of, settings=session.workspace.settings.data)
    except InputError as exc:
        raise _retold_about(exc, copy, src) from None


def _retold_about(exc: InputError, copy: Source, src: Source) -> InputError:
    """``exc`` about the private ``copy`` told about ``src``: the user never saw the copy.

    Reading errors (running out of memory above all) start with the path they read; a
    contract that cannot apply to the data names its rule instead, and is left as it is.
    """
    if not exc.message.startswith(copy.label):
        return exc
    details = {
        key: src.label if value == copy.label else value for key, value in exc.details.items()
    }
    return type(exc)(src.label + exc.message.removeprefix(copy.label), **details)


def _total_rows(src: Source) -> int | None:
    if src.kind != "parquet":
        return None
    with contextlib.suppress(Exception):
        return int(pq.ParquetFile(src.text).metadata.num_rows)
    return None


def _open_reader(
    src: Source, con: duckdb.DuckDBPyConnection, batch_rows: int
) -> pa.RecordBatchReader:
    if src.path is not None and src.path.stat().st_size == 0:
        raise InputError(f"{src.path}: file is empty (0 bytes)", file=str(src.path))
    try:
        return con.sql(f"SELECT * FROM {src.from_clause()}").to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        raise _source_error(src, exc) from None


def _source_error(src: Source, exc: Exception) -> InputError:
    """A failure to read ``src`` (a DuckDB error, or one passed on by its Arrow stream)."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # through the Arrow stream DuckDB's out-of-memory error keeps only its text
    if isinstance(exc, duckdb.OutOfMemoryException) or detail.startswith("Out of Memory Error"):
        return InputError(
            f"{src.label}: ran out of memory reading the data ({detail}); raise "
            "data.duckdb_memory_limit in modelward.toml",
            file=src.label,
            field="data.duckdb_memory_limit",
        )
    what = {
        "parquet": "a readable Parquet file",
        "csv": "a readable CSV file",
        "sql": "a valid query",
    }[src.kind]
    where = src.text if src.kind != "sql" else "SQL source"
    return InputError(f"{where}: not {what}: {detail}", file=src.label)


class _ParquetSink:
    """Writes row groups on a background thread while the caller reads and hashes.

    zstd compression and SHA-256 both release the GIL, so overlapping them nearly halves
    the wall time on two cores. The queue holds at most two row groups, which bounds the
    memory a snapshot can take whatever the size of its source.
    """

    def __init__(self, dest: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(dest, schema, compression="zstd")
        self._schema = schema
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name="modelward-snapshot-writer", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while (table := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write_table(table)
                except BaseException as exc:  # handed to the caller's thread in put/close
                    self._error = exc

    def put(self, batches: list[pa.RecordBatch]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(pa.Table.from_batches(batches, schema=self._schema))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._writer.close()
        if self._error is not None:
            raise self._error


def _write(
    session: Session, src: Source, dest: Path, on_progress: ProgressCallback | None
) -> tuple[str, list[dict[str, Any]], int]:
    """Stream ``src`` into ``dest`` (Parquet) and hash it in the same pass."""
    settings = session.workspace.settings.data
    con = connect(settings)
    total = _total_rows(src)
    try:
        reader = _open_reader(src, con, settings.batch_rows)
        hasher = TableHasher(reader.schema)
        schema = hasher.schema
        sink = _ParquetSink(dest, schema)
        pending: list[pa.RecordBatch] = []
        pending_rows = done = 0
        try:
            for raw in _batches(reader, src):
                batch = normalise_batch(raw, schema)
                pending.append(batch)
                pending_rows += batch.num_rows
                if pending_rows >= _ROW_GROUP_ROWS:
                    sink.put(pending)
                    pending, pending_rows = [], 0
                hasher.update(batch)
                done += batch.num_rows
                if on_progress is not None:
                    on_progress(done, total)
            if pending:
                sink.put(pending)
        finally:
            sink.close()
        digest = "sha256:" + hasher.hexdigest()  # flushes the last partial chunk
        with dest.open("rb") as fh:
            os.fsync(fh.fileno())
        columns = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]
        return digest, columns, hasher.rows
    finally:
        con.close()


def _batches(reader: pa.RecordBatchReader, src: Source) -> Iterator[pa.RecordBatch]:
    # DuckDB reads lazily: a bad value deep in a CSV, a corrupt row group past the first,
    # or the memory limit surfaces while iterating, not at open. Its Arrow stream passes
    # the error on as an OSError, which must not read as the workspace's disk failing.
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            raise _source_error(src, exc) from None
        yield batch


def _publish(tmp: Path, final: Path) -> None:
    """Move the finished folder into place atomically; equal content may already be there."""
    if (final / _DATA_FILE).exists():
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(tmp, final)
    except OSError as exc:
        # another process published the same content first: that copy is identical
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and (final / _DATA_FILE).exists():
            return
        raise


def _storage_error(exc: OSError, name: str, where: Path) -> StorageError:
    reason = exc.strerror or str(exc)
    return StorageError(
        f"cannot write snapshot '{name}' under {where.parent}: {reason}; nothing was stored",
        errno=exc.errno,
    )


def _sweep_stale_tmp(tmp_dir: Path) -> None:
    """Remove write areas left by processes that died mid-snapshot (kill -9, power loss)."""
    if not tmp_dir.exists():
        return
    for entry in tmp_dir.glob("snap-*"):
        parts = entry.name.split("-")
        if len(parts) < 3 or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:
            pass  # alive, owned by someone else


def _snapshot_id(name: str, content_hash: str) -> str:
    return hashlib.sha256(f"{name}\0{content_hash}".encode()).hexdigest()[:20]


def _insert(session: Session, record: dict[str, Any]) -> Snapshot:
    store = session.store
    name, content_hash = record["name"], record["content_hash"]
    for _ in range(_INSERT_ATTEMPTS):
        try:
            with store.transaction() as conn:
                existing = conn.execute(
                    select(snapshots_table).where(
                        snapshots_table.c.name == name,
                        snapshots_table.c.content_hash == content_hash,
                    )
                ).first()
                if existing is not None:
                    return _from_row(session, existing._mapping, created=False)
                version = (
                    conn.execute(
                        select(func.max(snapshots_table.c.version)).where(
                            snapshots_table.c.name == name
                        )
                    ).scalar_one_or_none()
                    or 0
                ) + 1
                row = {
                    **record,
                    "id": _snapshot_id(name, content_hash),
                    "version": version,
                    "created_by": session.actor,
                    "created_at": datetime.now(UTC),
                }
                conn.execute(insert(snapshots_table).values(**row))
                security.record(
                    conn,
                    actor=session.actor,
                    action="data.snapshot.override"
                    if record["override_reason"]
                    else "data.snapshot.create",
                    target=f"snapshot:{name}@{version}",
                    payload={
                        "id": row["id"],
                        "content_hash": content_hash,
                        "rows": record["row_count"],
                        "source": record["source"],
                        "contract_hash": record["contract_hash"],
                        "validation_passed": record["validation_passed"],
                        "override_reason": record["override_reason"],
                    },
                )
                return _from_row(session, row, created=True)
        except IntegrityError:
            continue  # a concurrent writer took the version number or the content; re-read
    raise Conflict(
        f"snapshot '{name}': could not record after {_INSERT_ATTEMPTS} attempts "
        "(concurrent writers)"
    )


def _from_row(session: Session, row: Mapping[Any, Any], *, created: bool = True) -> Snapshot:
    """A :class:`Snapshot` from a fetched row's mapping or the dict just inserted."""
    fields = {f: row[f] for f in _ROW_FIELDS}
    return Snapshot(**fields, path=session.workspace.home / row["storage_path"], created=created)


_ROW_FIELDS = (
    "id",
    "name",
    "version",
    "content_hash",
    "schema",
    "row_count",
    "byte_size",
    "source",
    "source_kind",
    "storage_path",
    "created_by",
    "created_at",
    "contract",
    "contract_hash",
    "validation",
    "validation_passed",
    "override_reason",
)


# --------------------------------------------------------------------------- reading


def _parse_ref(ref: str) -> tuple[str, int | None]:
    name, sep, version = ref.partition("@")
    if not sep:
        return name, None
    if not version.isdigit():
        raise InputError(
            f"snapshot reference {ref!r}: version after '@' must be a number", field="ref"
        )
    return name, int(version)


def _get(conn: Connection, session: Session, ref: str) -> Snapshot:
    name, version = _parse_ref(ref)
    table = snapshots_table
    if version is None:
        row = conn.execute(select(table).where(table.c.id == ref)).first()
        if row is None:
            row = conn.execute(
                select(table).where(table.c.name == name).order_by(table.c.version.desc()).limit(1)
            ).first()
    else:
        row = conn.execute(
            select(table).where(table.c.name == name, table.c.version == version)
        ).first()
    if row is None:
        raise NotFound(
            f"snapshot {ref!r} not found; `modelward data list` shows what exists", ref=ref
        )
    return _from_row(session, row._mapping)


def content_hashes(conn: Connection, snapshot_ids: Iterable[str]) -> dict[str, str]:
    """``{id: content hash}`` of the snapshots among ``snapshot_ids`` that exist.

    Takes the caller's connection, so another context (the registry checking a lineage
    record) reads it inside the transaction that depends on the answer.
    """
    wanted = {i for i in snapshot_ids if isinstance(i, str)}
    if not wanted:
        return {}
    rows = conn.execute(
        select(snapshots_table.c.id, snapshots_table.c.content_hash).where(
            snapshots_table.c.id.in_(sorted(wanted))
        )
    )
    return {r.id: r.content_hash for r in rows}


def get_snapshot(session: Session, ref: str) -> Snapshot:
    """A snapshot by id, ``name@version`` or ``name`` (its latest version)."""
    with session.store.read() as conn:
        return _get(conn, session, ref)


def list_snapshots(session: Session, name: str | None = None) -> list[Snapshot]:
    query = select(snapshots_table).order_by(snapshots_table.c.name, snapshots_table.c.version)
    if name is not None:
        query = query.where(snapshots_table.c.name == name)
    with session.store.read() as conn:
        return [_from_row(session, row._mapping) for row in conn.execute(query)]


def _note(snap: Snapshot) -> None:
    lineage.note_dataset(lineage.DatasetUse(snap.id, snap.name, snap.version, snap.content_hash))


def scan_snapshot(session: Session, ref: str) -> Source:
    """A DuckDB-readable source for the snapshot's data; noted in the active run's lineage."""
    snap = get_snapshot(session, ref)
    if not snap.path.exists():
        raise NotFound(f"snapshot {snap.ref}: data file {snap.path} is missing from the workspace")
    _note(snap)
    return Source("parquet", str(snap.path))


def read_snapshot(session: Session, ref: str, columns: list[str] | None = None) -> pa.Table:
    """The snapshot's rows as an Arrow table; noted in the active run's lineage."""
    source = scan_snapshot(session, ref)
    return pq.read_table(source.text, columns=columns)


def diff_schemas(session: Session, old_ref: str, new_ref: str) -> SchemaDiff:
    """What changed in the schema between two snapshots (added, removed, retyped columns)."""
    old, new = get_snapshot(session, old_ref), get_snapshot(session, new_ref)
    old_cols = {c["name"]: c for c in old.schema}
    new_cols = {c["name"]: c for c in new.schema}
    changed = [
        {"name": n, "old_type": old_cols[n]["type"], "new_type": new_cols[n]["type"]}
        for n in old_cols.keys() & new_cols.keys()
        if old_cols[n]["type"] != new_cols[n]["type"]
    ]
    return SchemaDiff(
        old=old.ref,
        new=new.ref,
        added=[new_cols[n] for n in new_cols if n not in old_cols],
        removed=[old_cols[n] for n in old_cols if n not in new_cols],
        changed=sorted(changed, key=lambda c: c["name"]),
        row_count=(old.row_count, new.row_count),
    )

"""A feature view's source as a DuckDB relation: resolved, checked, projected and typed.

The offline join, materialization, health and skew checks all read a view through
:func:`view_relation`, so every path sees the same columns with the same types: keys as
they are, the event time as ``TIMESTAMPTZ`` (a naive source time is read as UTC), each
feature cast to its declared type, and rows without an event time left out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from modelward.data import quote_ident, quote_literal
from modelward.errors import InputError
from modelward.features.definitions import DUCKDB_TYPES, FeatureView

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["ResolvedSource", "latest_relation", "resolve_view_source", "view_relation"]

#: internal column names; a double underscore prefix keeps them clear of user columns
EVENT_TS = "__mw_event_ts"
CREATED_TS = "__mw_created_ts"


@dataclass(frozen=True)
class ResolvedSource:
    #: a DuckDB FROM expression
    from_clause: str
    #: how the source is named in messages and lineage
    label: str
    #: a snapshot's content hash, or a Parquet file's fingerprint (see _file_fingerprint)
    content_hash: str | None
    snapshot_id: str | None = None


def _file_fingerprint(paths: list[Path]) -> str:
    """sha256 over each Parquet file's size and footer (schema, row-group statistics).

    Reading the footer costs the same for any file size, where hashing every byte of a
    1M-row file costs more than a tenth of a second per training set. It changes with the
    content in practice, but it is a fingerprint, not a content hash: for content-addressed
    lineage use a snapshot source.
    """
    digest = hashlib.sha256()
    for path in paths:
        size = path.stat().st_size
        with path.open("rb") as fh:
            fh.seek(max(0, size - 8))
            tail = fh.read(8)
            footer_len = int.from_bytes(tail[:4], "little") if tail[4:] == b"PAR1" else 0
            fh.seek(max(0, size - 8 - footer_len))
            digest.update(str(size).encode() + b"\0" + fh.read(footer_len + 8))
    return f"parquet-footer:{digest.hexdigest()}"


def resolve_view_source(view: FeatureView, session: Session | None) -> ResolvedSource:
    """Where the view's rows are: a snapshot (by ref), a Parquet file or a SQL query."""
    desc = view.source_descriptor
    if desc["kind"] == "sql":
        return ResolvedSource(f"({desc['sql']})", f"sql:{desc['sql']}", None)
    if desc["kind"] == "snapshot":
        if session is None:
            raise InputError(
                f"feature view {view.name!r}: a snapshot source needs a workspace session",
                view=view.name,
            )
        from modelward.data import get_snapshot

        snap = get_snapshot(session, desc["ref"])
        return ResolvedSource(
            f"read_parquet({quote_literal(str(snap.path))})",
            f"snapshot:{snap.name}@{snap.version}",
            snap.content_hash,
            snap.id,
        )
    path = Path(desc["path"]).expanduser()
    if not path.is_absolute() and session is not None:
        path = session.workspace.root / path
    if not path.exists():
        raise InputError(
            f"feature view {view.name!r}: source file {path} not found", view=view.name
        )
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    glob = str(path / "*.parquet") if path.is_dir() else str(path)
    digest = _file_fingerprint(files) if files else None
    return ResolvedSource(f"read_parquet({quote_literal(glob)})", str(path), digest)


_COMPATIBLE = {
    "int64": (
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "HUGEINT",
    ),
    "float64": (
        "FLOAT",
        "DOUBLE",
        "DECIMAL",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "HUGEINT",
    ),
    "string": ("VARCHAR",),
    "bool": ("BOOLEAN",),
    "timestamp": (
        "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMP_NS",
        "TIMESTAMP_MS",
        "TIMESTAMP_S",
        "DATE",
    ),
}


def _base_type(duck_type: str) -> str:
    return duck_type.split("(")[0].strip().upper()


def source_columns(
    con: duckdb.DuckDBPyConnection, source: ResolvedSource, view_name: str
) -> dict[str, str]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {source.from_clause}").fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"feature view {view_name!r}: cannot read source {source.label}: {first}",
            view=view_name,
        ) from None
    return {str(r[0]): str(r[1]) for r in rows}


def check_source(view: FeatureView, columns: dict[str, str], source: ResolvedSource) -> None:
    """Every declared column exists in the source with a type that fits its declaration."""
    for role, col in [
        *(("join key", k) for k in view.join_keys),
        ("event timestamp", view.timestamp),
        *((("created timestamp", view.created_timestamp),) if view.created_timestamp else ()),
        *(("feature", f.name) for f in view.features),
    ]:
        if col not in columns:
            raise InputError(
                f"feature view {view.name!r}: {role} column {col!r} is not in source "
                f"{source.label} (it has {', '.join(columns)})",
                view=view.name,
                column=col,
            )
    for col in (view.timestamp, view.created_timestamp):
        if col and _base_type(columns[col]) not in _COMPATIBLE["timestamp"]:
            raise InputError(
                f"feature view {view.name!r}: column {col!r} must be a timestamp, "
                f"but the source has {columns[col]}",
                view=view.name,
                column=col,
            )
    for feat in view.features:
        actual = _base_type(columns[feat.name])
        if actual not in _COMPATIBLE[feat.dtype]:
            raise InputError(
                f"feature view {view.name!r}: feature {feat.name!r} is declared {feat.dtype} "
                f"but the source column is {columns[feat.name]}",
                view=view.name,
                column=feat.name,
            )


def _ts(column: str) -> str:
    # naive source times are instants in UTC (the connection's TimeZone is UTC)
    return f"CAST({quote_ident(column)} AS TIMESTAMPTZ)"


def view_relation(view: FeatureView, source: ResolvedSource, *, dedupe: bool = True) -> str:
    """SQL for the view's rows: keys, ``__mw_event_ts``, ``__mw_created_ts``, typed features.

    With ``dedupe``, of several rows sharing a key and an event time only the one created
    last is kept, which makes "the latest row at or before t" well defined for the ASOF join.
    """
    keys = ", ".join(quote_ident(k) for k in view.join_keys)
    created = _ts(view.created_timestamp) if view.created_timestamp else "NULL::TIMESTAMPTZ"
    feats = ", ".join(
        f"CAST({quote_ident(f.name)} AS {DUCKDB_TYPES[f.dtype]}) AS {quote_ident(f.name)}"
        for f in view.features
    )
    sql = (
        f"SELECT {keys}, {_ts(view.timestamp)} AS {EVENT_TS}, {created} AS {CREATED_TS}, {feats} "
        f"FROM {source.from_clause} WHERE {quote_ident(view.timestamp)} IS NOT NULL"
    )
    if dedupe and view.created_timestamp:
        sql += (
            f" QUALIFY row_number() OVER (PARTITION BY {keys}, {EVENT_TS} "
            f"ORDER BY {CREATED_TS} DESC NULLS LAST) = 1"
        )
    return sql


def latest_relation(
    view: FeatureView, source: ResolvedSource, start: str | None, end: str | None
) -> str:
    """SQL for the latest row per entity with an event time in ``[start, end)`` (ISO texts)."""
    keys = ", ".join(quote_ident(k) for k in view.join_keys)
    conds = [f"{EVENT_TS} >= {quote_literal(start)}::TIMESTAMPTZ"] if start else []
    if end:
        conds.append(f"{EVENT_TS} < {quote_literal(end)}::TIMESTAMPTZ")
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    return (
        f"SELECT * FROM ({view_relation(view, source, dedupe=False)}){where} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} "
        f"ORDER BY {EVENT_TS} DESC, {CREATED_TS} DESC NULLS LAST) = 1"
    )

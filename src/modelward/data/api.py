"""The notebook-facing data API: ``mw.data.snapshot(...)`` and friends.

Each function takes an optional ``session``; without one it uses the workspace found
from ``$MODELWARD_WORKSPACE`` or the current folder.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from modelward.data import snapshots as _snapshots
from modelward.data.snapshots import ProgressCallback, SchemaDiff, Snapshot
from modelward.data.sources import Source
from modelward.session import resolve_session

if TYPE_CHECKING:
    from modelward.data.contracts import Contract
    from modelward.session import Session

__all__ = ["diff", "get", "list", "read", "scan", "snapshot"]


def snapshot(
    source: str | Path,
    *,
    name: str,
    contract: Contract | str | Path | None = None,
    override_reason: str | None = None,
    as_of: datetime | None = None,
    on_progress: ProgressCallback | None = None,
    session: Session | None = None,
) -> Snapshot:
    """Snapshot a Parquet/CSV file or a DuckDB query (see ``snapshots.snapshot``)."""
    return _snapshots.snapshot(
        resolve_session(session),
        source,
        name=name,
        contract=contract,
        override_reason=override_reason,
        as_of=as_of,
        on_progress=on_progress,
    )


def get(ref: str, *, session: Session | None = None) -> Snapshot:
    return _snapshots.get_snapshot(resolve_session(session), ref)


def list(name: str | None = None, *, session: Session | None = None) -> builtins.list[Snapshot]:
    return _snapshots.list_snapshots(resolve_session(session), name)


def read(
    ref: str, columns: builtins.list[str] | None = None, *, session: Session | None = None
) -> pa.Table:
    """The snapshot as an Arrow table (``.to_pandas()`` for pandas); recorded in run lineage."""
    return _snapshots.read_snapshot(resolve_session(session), ref, columns)


def scan(ref: str, *, session: Session | None = None) -> Source:
    """A DuckDB source over the snapshot (``source.from_clause()``); recorded in run lineage."""
    return _snapshots.scan_snapshot(resolve_session(session), ref)


def diff(old_ref: str, new_ref: str, *, session: Session | None = None) -> SchemaDiff:
    return _snapshots.diff_schemas(resolve_session(session), old_ref, new_ref)

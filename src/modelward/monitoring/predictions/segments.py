"""Columnar segments: the prediction log as Parquet files per endpoint, read as Arrow scans.

Why: monitoring reads windows of up to millions of rows. The SQLite log hands each row to
Python and parses its JSON (about 12 s of CPU per million rows); here a window is a
column-projected, row-group-filtered Parquet read, with inputs and predictions already
typed (a struct column each), so a million rows is well under a second.

Layout, under ``path`` (default ``.modelward/predictions``)::

    <endpoint>/<stamp>-<pid>-<n>.parquet         one written batch (write, then rename)
    <endpoint>/<stamp>-<pid>-<n>.c.parquet       a compacted segment of several batches

Every row keeps the ``cursor`` it was written with (``<file stem>/<row>``, zero-padded, so
they sort in write order), also after compaction: a reader's cursor stays valid. A batch
is written to a hidden temporary file and renamed, so nothing half-written is visible.

**Compaction** runs on the writer thread (never the request path) when an endpoint has
``compact_files`` small batch files: runs of them are merged, in order, into segments of
up to ``segment_rows`` rows. The merged file names its sources in its Parquet metadata and
is renamed into place before they are deleted; a reader that sees both (a crash between
the two steps, or a look in between) skips the sources, so no row is read twice. One
process compacts an endpoint at a time (a file lock; the others skip).

**Retention**: ``retention_days`` (0: keep everything) prunes whole segments past it
during compaction; :meth:`prune` cuts at any time (a segment straddling the cut is
rewritten without the old rows).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field

from modelward import parquet
from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.base import PredictionRecord
from modelward.monitoring.predictions.table import check_table
from modelward.monitoring.predictions.window import (
    WINDOW_FIELDS,
    build_window,
    check_columns,
    empty_window,
    project,
)

__all__ = ["SegmentPredictionSink", "SegmentPredictionSinkConfig"]

_SOURCES_KEY = b"modelward.compacted_from"
_counter = itertools.count()


class SegmentPredictionSinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["segments"] = "segments"
    #: folder of the segments; relative paths are under the workspace root.
    #: Empty: ``.modelward/predictions``
    path: str = ""
    #: small batch files of one endpoint that start a compaction
    compact_files: int = Field(default=64, ge=2, le=100_000)
    #: rows a compacted segment holds at most
    segment_rows: int = Field(default=500_000, ge=1_000, le=50_000_000)
    #: days a prediction is kept (pruned during compaction); 0: kept until pruned by hand
    retention_days: float = Field(default=0.0, ge=0)


def _fixed_columns(
    records: Sequence[PredictionRecord], stem: str, positions: Sequence[int]
) -> list[list[Any]]:
    return [
        [f"{stem}/{i:07d}" for i in positions],
        [r.request_id for r in records],
        [r.at_us for r in records],
        [r.endpoint for r in records],
        [r.model for r in records],
        [r.model_version for r in records],
        [float(r.latency_ms) for r in records],
        [bool(r.degraded) for r in records],
        [r.mode for r in records],
        [r.role for r in records],
        [r.release_id for r in records],
        [r.error for r in records],
    ]


def _jsonable(value: Any) -> Any:
    """Values as JSON would give them back (numpy scalars and arrays become Python)."""
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))


class SegmentPredictionSink:
    def __init__(
        self,
        path: Path,
        *,
        compact_files: int = 64,
        segment_rows: int = 500_000,
        retention_days: float = 0.0,
    ) -> None:
        self.path = path
        self._compact_files = compact_files
        self._segment_rows = segment_rows
        self._retention_us = int(retention_days * 86_400e6)
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: SegmentPredictionSinkConfig, root: Path) -> SegmentPredictionSink:
        path = Path(config.path) if config.path else root / ".modelward" / "predictions"
        if not path.is_absolute():
            path = root / path
        return cls(
            path,
            compact_files=config.compact_files,
            segment_rows=config.segment_rows,
            retention_days=config.retention_days,
        )

    @property
    def label(self) -> str:
        return f"segments:{self.path}"

    # -- writing --------------------------------------------------------------------

    def write(self, records: Sequence[PredictionRecord]) -> None:
        # one stem for the batch, a row's cursor its place in it: the cursors of a batch
        # split across endpoints still sort in the order it was written
        by_endpoint: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            by_endpoint.setdefault(r.endpoint, []).append(i)
        stem = f"{time.time_ns():020d}-{os.getpid():07d}-{next(_counter):09d}"
        try:
            for endpoint, positions in by_endpoint.items():
                folder = self.path / endpoint
                folder.mkdir(parents=True, exist_ok=True)
                rows = [records[i] for i in positions]
                table = build_window(
                    _fixed_columns(rows, stem, positions),
                    [_jsonable(r.inputs) for r in rows],
                    [_jsonable(r.prediction) for r in rows],
                )
                self._put(table, folder / f"{stem}.parquet")
            for endpoint in by_endpoint:
                self._maybe_compact(self.path / endpoint)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot write the prediction log {self.label}: {exc.strerror or exc}",
                store=self.label,
            ) from None

    def write_table(self, endpoint: str, table: pa.Table) -> None:
        # a batch part is columnar already: it becomes one segment as it is, with no
        # record per row and no JSON (its inputs struct is the window's inputs column)
        check_table(table)
        n = table.num_rows
        if not n:
            return
        stem = f"{time.time_ns():020d}-{os.getpid():07d}-{next(_counter):09d}"
        rows = pc.utf8_lpad(pa.array(range(n), pa.int64()).cast(pa.string()), 7, "0")
        prediction = table.column("prediction")
        if pa.types.is_integer(prediction.type):  # the window's rule: numbers are double
            prediction = prediction.cast(pa.float64())
        fixed = {
            "cursor": pc.binary_join_element_wise(f"{stem}/", rows, ""),
            "endpoint": pa.repeat(pa.scalar(endpoint, pa.string()), n),
        }
        columns = [
            fixed[f.name] if f.name in fixed else table.column(f.name).cast(f.type)
            for f in WINDOW_FIELDS
        ]
        window = pa.Table.from_arrays(
            [*columns, table.column("inputs"), prediction],
            names=[*(f.name for f in WINDOW_FIELDS), "inputs", "prediction"],
        )
        folder = self.path / endpoint
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._put(window, folder / f"{stem}.parquet")
            self._maybe_compact(folder)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot write the prediction log {self.label}: {exc.strerror or exc}",
                store=self.label,
            ) from None

    @staticmethod
    def _put(table: pa.Table, target: Path, sources: Sequence[str] = ()) -> None:
        if sources:
            meta = dict(table.schema.metadata or {})
            meta[_SOURCES_KEY] = orjson.dumps(list(sources))
            table = table.replace_schema_metadata(meta)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        parquet.write_table(
            table, temporary, unique=("cursor", "request_id"), row_group_size=64_000
        )
        os.replace(temporary, target)

    # -- the files of an endpoint ---------------------------------------------------

    def _files(self, endpoint: str) -> list[Path]:
        """The live segment files of ``endpoint`` in write order (sources of a compacted
        segment that still exist are left out: the segment holds their rows)."""
        folder = self.path / endpoint
        if not folder.is_dir():
            return []
        files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
        covered: set[str] = set()
        for p in files:
            if p.name.endswith(".c.parquet"):
                covered.update(_sources(p))
        return [p for p in files if p.name not in covered]

    def _tables(
        self, endpoint: str, columns: list[str] | None = None, filters: Any = None
    ) -> list[pa.Table]:
        for attempt in range(3):
            try:
                return [
                    pq.read_table(p, columns=columns, filters=filters)
                    for p in self._files(endpoint)
                ]
            except FileNotFoundError:
                if attempt == 2:
                    raise
                continue  # a compaction replaced a file while we listed: list again
        return []

    # -- reading --------------------------------------------------------------------

    def read_window(
        self,
        endpoint: str,
        *,
        version: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        after: str | None = None,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        keep = check_columns(columns)
        filters: list[tuple[str, str, Any]] = [("endpoint", "=", endpoint)]
        if version is not None:
            filters.append(("model_version", "=", version))
        if start_us is not None:
            filters.append(("at_us", ">=", start_us))
        if end_us is not None:
            filters.append(("at_us", "<", end_us))
        if after is not None:
            filters.append(("cursor", ">", after))
        try:
            # a projected read decodes only the asked-for Parquet columns (the filters
            # read their own)
            parts = [t for t in self._tables(endpoint, keep, filters) if t.num_rows]
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot read the prediction log {self.label}: {exc}", store=self.label
            ) from None
        if not parts:
            return project(empty_window(), keep)
        try:
            window = pa.concat_tables(parts, promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            # an input field typed differently in two batches: the window's rule is JSON
            # text for that field, which the row path applies (on whole rows)
            if keep is not None:
                whole = self.read_window(
                    endpoint,
                    version=version,
                    start_us=start_us,
                    end_us=end_us,
                    after=after,
                    limit=limit,
                )
                return project(whole, keep)
            window = _by_rows(parts)
        if limit is not None:
            window = window.slice(0, limit)
        return window.combine_chunks()

    def read(self, endpoint: str | None = None, limit: int | None = None) -> list[PredictionRecord]:
        endpoints = [endpoint] if endpoint is not None else self._endpoints()
        windows = [self.read_window(e) for e in endpoints]
        rows = sorted(
            (row for w in windows for row in w.to_pylist()), key=lambda row: row["cursor"]
        )
        records = [_record(row) for row in rows]
        return records[:limit] if limit is not None else records

    def _endpoints(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.is_dir())

    def find_request_ids(self, endpoint: str, request_ids: Iterable[str]) -> set[str]:
        wanted = pa.array(list(dict.fromkeys(request_ids)), pa.string())
        found: set[str] = set()
        for table in self._tables(endpoint, columns=["request_id"]):
            ids = table.column("request_id")
            found.update(pc.filter(ids, pc.is_in(ids, value_set=wanted)).to_pylist())
        return found

    def count(self, endpoint: str | None = None) -> int:
        endpoints = [endpoint] if endpoint is not None else self._endpoints()
        return sum(pq.ParquetFile(p).metadata.num_rows for e in endpoints for p in self._files(e))

    # -- compaction and retention ----------------------------------------------------

    def _maybe_compact(self, folder: Path) -> None:
        small = [p for p in self._files(folder.name) if not p.name.endswith(".c.parquet")]
        if len(small) >= self._compact_files:
            self.compact(folder.name)

    def compact(self, endpoint: str) -> int:
        """Merge the endpoint's runs of small files into segments; returns files merged.
        Another process compacting the same endpoint makes this a no-op."""
        folder = self.path / endpoint
        try:
            with FileLock(folder / ".compact.lock", timeout=0):
                return self._compact(folder)
        except Timeout:
            return 0

    def _compact(self, folder: Path) -> int:
        if self._retention_us:
            self._prune_folder(folder, int(time.time() * 1e6) - self._retention_us)
        merged = 0
        run: list[Path] = []
        rows = 0
        for p in [*self._files(folder.name), None]:
            n = 0 if p is None else pq.ParquetFile(p).metadata.num_rows
            ends = p is None or p.name.endswith(".c.parquet") or rows + n > self._segment_rows
            if ends and len(run) > 1:
                merged += self._merge(folder, run)
            if ends:
                run, rows = [], 0
            if p is not None and not p.name.endswith(".c.parquet"):
                run.append(p)
                rows += n
        return merged

    def _merge(self, folder: Path, run: list[Path]) -> int:
        tables = [pq.read_table(p) for p in run]
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            return 0  # differently typed batches stay apart; reads type them as JSON text
        target = folder / f"{run[0].name.removesuffix('.parquet')}.c.parquet"
        self._put(table.replace_schema_metadata(None), target, [p.name for p in run])
        for p in run:
            p.unlink(missing_ok=True)
        return len(run)

    def prune(self, before_us: int) -> int:
        return sum(self._prune_folder(self.path / e, before_us) for e in self._endpoints())

    def _prune_folder(self, folder: Path, before_us: int) -> int:
        removed = 0
        for p in self._files(folder.name):
            stats = _at_range(p)
            if stats is None or stats[0] >= before_us:
                continue
            table = pq.read_table(p)
            keep = table.filter(pc.greater_equal(table.column("at_us"), before_us))
            removed += table.num_rows - keep.num_rows
            if keep.num_rows:
                self._put(keep.replace_schema_metadata(None), p, _sources(p))
            else:
                p.unlink(missing_ok=True)
        return removed

    def close(self) -> None:
        return None


def _sources(path: Path) -> list[str]:
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(_SOURCES_KEY)
    return list(orjson.loads(raw)) if raw else []


def _at_range(path: Path) -> tuple[int, int] | None:
    """The smallest and largest ``at_us`` of a file, from its row-group statistics."""
    meta = pq.ParquetFile(path).metadata
    index = meta.schema.to_arrow_schema().get_field_index("at_us")
    lows, highs = [], []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        if stats is None or not stats.has_min_max:
            return (0, 2**62)  # unknown: read it
        lows.append(stats.min)
        highs.append(stats.max)
    return (min(lows), max(highs)) if lows else None


def _by_rows(parts: list[pa.Table]) -> pa.Table:
    rows = [row for t in parts for row in t.to_pylist()]
    names = [f.name for f in WINDOW_FIELDS]
    return build_window(
        [[row[n] for row in rows] for n in names],
        [row["inputs"] for row in rows],
        [row["prediction"] for row in rows],
    )


def _record(row: dict[str, Any]) -> PredictionRecord:
    return PredictionRecord(
        row["request_id"],
        row["at_us"],
        row["endpoint"],
        row["model"],
        row["model_version"],
        {k: v for k, v in (row["inputs"] or {}).items() if v is not None},
        row["prediction"],
        row["latency_ms"],
        row["degraded"],
        row["mode"],
        row["role"],
        row["release_id"],
        row["error"],
    )

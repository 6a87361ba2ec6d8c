"""Columnar segments: the prediction log as Parquet objects per endpoint, read as Arrow
scans, in a local folder or under an S3 prefix (``path = "s3://bucket/prefix"``).

Why: monitoring reads windows of up to millions of rows. The SQLite log hands each row to
Python and parses its JSON (about 12 s of CPU per million rows); here a window is a
column-projected, row-group-filtered Parquet read, with inputs and predictions already
typed (a struct column each), so a million rows is well under a second.

Layout, under ``path`` (default ``.modelward/predictions``)::

    <endpoint>/<stem>.parquet                  one written batch
    <endpoint>/<first>_<last>.c.parquet        a compacted segment of one writer's batches

(:mod:`~modelward.monitoring.predictions.segment_names` has the grammar.) Every row keeps
the ``cursor`` it was written with (``<stem>/<row>``, zero-padded, so they sort in write
order), also after compaction: a reader's cursor stays valid.

**Commit protocol** (no rename, no lock, so it holds on object storage): the only write is
a whole-object PUT, visible at once or not at all (locally: a hidden temporary file, then a
rename). Every object name is unique: a writer id, random per sink and process, and a
sequence. A batch is one PUT. A compaction merges a run of the *writer's own* batches, so
two gateway workers never compact the same objects, and needs no lock; its one commit
point is the PUT of the merged object, whose name says which batches it covers. Then the
covered batches are deleted. A crash before the merged PUT completes leaves the batches;
after it, the merged object and any batch not yet deleted are both there, and readers
skip covered batches by name, so each row is counted once. Any later compaction deletes
covered leftovers. A retry of a failed write reuses its object names, so a PUT that
landed but whose reply was lost is overwritten, not added twice.

**Compaction** runs on the writer thread (never the request path) once a writer has
written ``compact_files`` batches of an endpoint: its runs of them are merged, in order,
into segments of up to ``segment_rows`` rows; at :meth:`~SegmentPredictionSink.close` the
writer merges what it has left. The batches of a writer that crashed stay as they are
(read like any other), until retention prunes them.

**Retention**: ``retention_days`` (0: keep everything) prunes whole segments past it
during compaction; :meth:`prune` cuts at any time (a segment straddling the cut is
rewritten under its own name without the old rows), from any process: two prunes of one
segment write the same rows.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.base import PredictionRecord
from modelward.monitoring.predictions.locations import (
    ROW_GROUP_ROWS,
    SegmentLocation,
    at_range,
    check_endpoint_url,
    check_log_path,
    open_location,
)
from modelward.monitoring.predictions.segment_names import (
    Segment,
    batch_name,
    live_segments,
    merged_name,
    overlapping,
    parse,
)
from modelward.monitoring.predictions.table import check_table
from modelward.monitoring.predictions.window import (
    WINDOW_FIELDS,
    build_window,
    check_columns,
    empty_window,
    project,
)

__all__ = ["SegmentPredictionSink", "SegmentPredictionSinkConfig"]

_log = logging.getLogger(__name__)
#: rows of its own recent batches a writer keeps in memory for its next compaction
_CACHED_ROWS = 262_144
_T = TypeVar("_T")


class SegmentPredictionSinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["segments"] = "segments"
    #: folder of the segments (relative paths are under the workspace root), or
    #: ``s3://bucket/prefix``. Empty: ``.modelward/predictions``
    path: str = ""
    #: an S3-compatible server (MinIO, Ceph): ``http://host:port``; empty: AWS S3
    endpoint_url: str = ""
    #: the bucket's region; empty: the SDK's default (``AWS_REGION``, else us-east-1)
    region: str = ""
    #: batches one writer has written to an endpoint that start a compaction
    compact_files: int = Field(default=64, ge=2, le=100_000)
    #: rows a compacted segment holds at most
    segment_rows: int = Field(default=500_000, ge=1_000, le=50_000_000)
    #: days a prediction is kept (pruned during compaction); 0: kept until pruned by hand
    retention_days: float = Field(default=0.0, ge=0)
    #: seconds the gateway's log writer gathers records before it writes a batch (sooner
    #: when ``prediction_log_batch`` records are queued). Each batch is a Parquet file
    #: with a fixed cost of about 2 ms of CPU, so batches of a few records cost the
    #: writer thread 30 to 200 µs a record against about 8 µs in batches of thousands
    flush_interval_s: float = Field(default=1.0, gt=0, le=60)

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        return check_log_path(value)

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint_url(cls, value: str) -> str:
        return check_endpoint_url(value)


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
        location: SegmentLocation | Path,
        *,
        compact_files: int = 64,
        segment_rows: int = 500_000,
        retention_days: float = 0.0,
        flush_interval_s: float = 1.0,
    ) -> None:
        if isinstance(location, Path):
            location = open_location(str(location), location)
        self.location = location
        self._compact_files = compact_files
        self._segment_rows = segment_rows
        self._retention_us = int(retention_days * 86_400e6)
        #: how long a writer in front of this sink gathers records (see the config)
        self.flush_interval_s = flush_interval_s
        # one write or compaction at a time per sink: a compaction must not cover a
        # sequence number whose batch is still being written
        self._lock = threading.RLock()
        self._pid = -1
        self._writer = ""
        self._seq = itertools.count(1)
        self._last_ns = 0
        #: batches this writer wrote per endpoint since its last compaction there
        self._pending: dict[str, int] = {}
        #: rows of this writer's batches, so a compaction plans its runs without a read
        self._rows: dict[str, int] = {}
        #: this writer's batches as written, so its compaction merges them without
        #: reading them back (about half a batch's cost), up to _CACHED_ROWS rows
        self._written: dict[str, pa.Table] = {}
        #: the names of a write that failed, reused when the same batch is retried
        self._failed: tuple[tuple[Any, ...], str] | None = None

    @classmethod
    def from_config(cls, config: SegmentPredictionSinkConfig, root: Path) -> SegmentPredictionSink:
        location = open_location(
            config.path, root, endpoint_url=config.endpoint_url, region=config.region
        )
        return cls(
            location,
            compact_files=config.compact_files,
            segment_rows=config.segment_rows,
            retention_days=config.retention_days,
            flush_interval_s=config.flush_interval_s,
        )

    @property
    def path(self) -> str:
        """The folder, or ``bucket/prefix`` on S3."""
        return self.location.root

    @property
    def label(self) -> str:
        return f"segments:{self.location.label}"

    @property
    def writer_id(self) -> str:
        """This process's writer id (a forked worker gets its own: names never collide)."""
        if os.getpid() != self._pid:
            self._pid, self._writer = os.getpid(), uuid.uuid4().hex[:12]
            self._pending.clear()
        return self._writer

    def _stem(self, key: tuple[Any, ...]) -> str:
        if self._failed is not None and self._failed[0] == key:
            return self._failed[1]
        writer = self.writer_id
        # the clock kept increasing per writer: a stepped-back clock would break the
        # write order of its cursors
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        return f"{self._last_ns:020d}-{writer}-{next(self._seq):09d}"

    def _unavailable(self, doing: str, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(
            f"cannot {doing} the prediction log {self.label}: {self.location.describe(exc)}",
            store=self.label,
        )

    # -- writing --------------------------------------------------------------------

    def write(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        # one stem for the batch, a row's cursor its place in it: the cursors of a batch
        # split across endpoints still sort in the order it was written
        by_endpoint: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            by_endpoint.setdefault(r.endpoint, []).append(i)
        key = (
            "rows",
            len(records),
            records[0].request_id,
            records[0].at_us,
            records[-1].request_id,
        )
        with self._lock:
            stem = self._stem(key)
            try:
                for endpoint, positions in by_endpoint.items():
                    rows = [records[i] for i in positions]
                    table = build_window(
                        _fixed_columns(rows, stem, positions),
                        [_jsonable(r.inputs) for r in rows],
                        [_jsonable(r.prediction) for r in rows],
                    )
                    self._put_batch(endpoint, stem, table)
                self._failed = None
                for endpoint in by_endpoint:
                    self._maybe_compact(endpoint)
            except OSError as exc:
                self._failed = (key, stem)
                raise self._unavailable("write", exc) from None

    def write_table(self, endpoint: str, table: pa.Table) -> None:
        # a batch part is columnar already: it becomes one segment as it is, with no
        # record per row and no JSON (its inputs struct is the window's inputs column)
        check_table(table)
        n = table.num_rows
        if not n:
            return
        ids = table.column("request_id")
        key = ("table", endpoint, n, ids[0].as_py(), ids[n - 1].as_py())
        with self._lock:
            stem = self._stem(key)
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
            try:
                self._put_batch(endpoint, stem, window)
                self._failed = None
                self._maybe_compact(endpoint)
            except OSError as exc:
                self._failed = (key, stem)
                raise self._unavailable("write", exc) from None

    def _put_batch(self, endpoint: str, stem: str, table: pa.Table) -> None:
        name = batch_name(stem)
        self.location.put(endpoint, name, table)
        settled = table.num_rows >= ROW_GROUP_ROWS  # never merged: see _compact
        if name not in self._rows and not settled:
            self._pending[endpoint] = self._pending.get(endpoint, 0) + 1
        self._rows[name] = table.num_rows
        if settled:
            return
        if sum(t.num_rows for t in self._written.values()) + table.num_rows <= _CACHED_ROWS:
            self._written[name] = table

    # -- the segments of an endpoint -------------------------------------------------

    def _live(self, endpoint: str) -> list[Segment]:
        """The segments of ``endpoint`` a reader counts, in cursor order (batches a
        compacted segment covers are left out: it holds their rows)."""
        return live_segments(
            self.location.names(endpoint), lambda name: self.location.legacy_sources(endpoint, name)
        )

    def _tables(
        self, endpoint: str, columns: list[str] | None = None, filters: Any = None
    ) -> tuple[list[pa.Table], bool]:
        """The tables of the live segments, and whether their cursors interleave."""
        for attempt in range(3):
            try:
                live = self._live(endpoint)
                tables = self._each(
                    lambda s: self.location.read(endpoint, s.name, columns, filters), live
                )
                return tables, overlapping(live)
            except FileNotFoundError:
                if attempt == 2:
                    raise
                continue  # a compaction replaced a segment while we listed: list again
        return [], False

    def _each(self, read: Callable[[Segment], _T], segments: list[Segment]) -> list[_T]:
        # object storage answers each GET in milliseconds: fetch several at once
        if self.location.local or len(segments) < 2:
            return [read(s) for s in segments]
        with ThreadPoolExecutor(max_workers=min(8, len(segments))) as pool:
            return list(pool.map(read, segments))

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
        # interleaved segments are sorted by cursor, so the cursor is read along
        read = keep if keep is None or "cursor" in keep else [*keep, "cursor"]
        try:
            # a projected read decodes only the asked-for Parquet columns (the filters
            # read their own)
            tables, interleaved = self._tables(endpoint, read, filters)
        except OSError as exc:
            raise self._unavailable("read", exc) from None
        parts = [t for t in tables if t.num_rows]
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
        if interleaved and len(parts) > 1:
            window = window.take(pc.sort_indices(window.column("cursor")))
        if limit is not None:
            window = window.slice(0, limit)
        if read is not keep:
            window = project(window, keep)
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
        try:
            return self.location.endpoints()
        except OSError as exc:
            raise self._unavailable("read", exc) from None

    def find_request_ids(self, endpoint: str, request_ids: Iterable[str]) -> set[str]:
        wanted = pa.array(list(dict.fromkeys(request_ids)), pa.string())
        found: set[str] = set()
        try:
            tables, _ = self._tables(endpoint, columns=["request_id"])
        except OSError as exc:
            raise self._unavailable("read", exc) from None
        for table in tables:
            ids = table.column("request_id")
            found.update(pc.filter(ids, pc.is_in(ids, value_set=wanted)).to_pylist())
        return found

    def count(self, endpoint: str | None = None) -> int:
        endpoints = [endpoint] if endpoint is not None else self._endpoints()
        return sum(self._count(e) for e in endpoints)

    def _count(self, endpoint: str) -> int:
        for attempt in range(3):
            try:
                live = self._live(endpoint)
                footers = self._each(lambda s: self.location.metadata(endpoint, s.name), live)
                return sum(m.num_rows for m in footers)
            except FileNotFoundError:
                if attempt == 2:
                    raise self._unavailable(
                        "read", FileNotFoundError("listed, then gone")
                    ) from None
            except OSError as exc:
                raise self._unavailable("read", exc) from None
        return 0

    # -- compaction and retention ----------------------------------------------------

    def _maybe_compact(self, endpoint: str) -> None:
        if self._pending.get(endpoint, 0) < self._compact_files:
            return
        try:
            self._compact(endpoint)
        except OSError as exc:
            # the batch is stored: a failed compaction (a prune elsewhere removed a batch
            # midway, the bucket went away) must not make the writer write it again
            _log.warning("could not compact %s: %s", self.label, self.location.describe(exc))

    def compact(self, endpoint: str) -> int:
        """Merge this writer's runs of batches of ``endpoint`` into segments; returns
        the batches merged. Another writer's batches are never touched (no lock needed)."""
        with self._lock:
            try:
                return self._compact(endpoint)
            except OSError as exc:
                raise self._unavailable("compact", exc) from None

    def _compact(self, endpoint: str) -> int:
        self._pending[endpoint] = 0
        if self._retention_us:
            self._prune_endpoint(endpoint, int(time.time() * 1e6) - self._retention_us)
        names = self.location.names(endpoint)
        live = live_segments(names, lambda name: self.location.legacy_sources(endpoint, name))
        live_names = {s.name for s in live}
        # leftovers of a compaction that stopped before its deletes: covered, so safe
        for name in names:
            if parse(name) is not None and name not in live_names:
                self.location.delete(endpoint, name)
        writer = self.writer_id
        merged = 0
        run: list[Segment] = []
        rows = 0
        for s in [*(s for s in live if s.writer == writer and not s.merged), None]:
            n = 0 if s is None else self._row_count(endpoint, s)
            # a batch of a whole row group or more (a batch scoring part) is settled:
            # merged, its row groups would stay the same and a reader would save one file
            # open, for a rewrite of every row (a batch run's log written twice)
            settled = n >= ROW_GROUP_ROWS
            if s is None or settled or rows + n > self._segment_rows:
                if len(run) > 1:
                    merged += self._merge(endpoint, run)
                run, rows = [], 0
            if s is not None and not settled:
                run.append(s)
                rows += n
        return merged

    def _row_count(self, endpoint: str, segment: Segment) -> int:
        known = self._rows.get(segment.name)
        return (
            known if known is not None else self.location.metadata(endpoint, segment.name).num_rows
        )

    def _merge(self, endpoint: str, run: list[Segment]) -> int:
        tables = [self._written.get(s.name) or self.location.read(endpoint, s.name) for s in run]
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            return 0  # differently typed batches stay apart; reads type them as JSON text
        # the commit point: once this object exists, readers skip the batches it covers
        self.location.put(
            endpoint, merged_name(run[0], run[-1]), table.replace_schema_metadata(None)
        )
        for s in run:
            self.location.delete(endpoint, s.name)
            self._rows.pop(s.name, None)
            self._written.pop(s.name, None)
        return len(run)

    def prune(self, before_us: int) -> int:
        with self._lock:
            try:
                return sum(self._prune_endpoint(e, before_us) for e in self.location.endpoints())
            except OSError as exc:
                raise self._unavailable("prune", exc) from None

    def _prune_endpoint(self, endpoint: str, before_us: int) -> int:
        names = self.location.names(endpoint)
        live = live_segments(names, lambda name: self.location.legacy_sources(endpoint, name))
        live_names = {s.name for s in live}
        # covered leftovers first: deleting the segment that covers them would bring
        # them back
        for name in names:
            if parse(name) is not None and name not in live_names:
                self.location.delete(endpoint, name)
        removed = 0
        for s in live:
            stats = at_range(self.location.metadata(endpoint, s.name))
            if stats is None or stats[0] >= before_us:
                continue
            table = self.location.read(endpoint, s.name)
            keep = table.filter(pc.greater_equal(table.column("at_us"), before_us))
            removed += table.num_rows - keep.num_rows
            if keep.num_rows:
                meta = table.schema.metadata if s.legacy else None  # a legacy file's sources
                self.location.put(endpoint, s.name, keep.replace_schema_metadata(meta))
            else:
                self.location.delete(endpoint, s.name)
            if s.name in self._rows:
                self._rows[s.name] = keep.num_rows
                self._written.pop(s.name, None)  # read back from now on: the rows changed
        return removed

    def close(self) -> None:
        """Merge what this writer left of each endpoint (a clean shutdown leaves few
        small objects behind); nothing to release otherwise."""
        with self._lock:
            if os.getpid() != self._pid:
                return  # a forked copy: its parent's batches are not its own
            for endpoint in [e for e, n in self._pending.items() if n > 1]:
                try:
                    self._compact(endpoint)
                except OSError as exc:
                    # the batches stay readable as they are; the message has no secret
                    _log.warning(
                        "could not compact %s on close: %s", self.label, self.location.describe(exc)
                    )


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

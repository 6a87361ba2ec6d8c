"""The SQLite prediction log: the embedded default, its own file ``.modelward/predictions.db``.

Why a file of its own and not the metadata database: the log takes a steady stream of
batch inserts from every gateway worker, while the metadata database serialises writers
(``BEGIN IMMEDIATE``) for state changes and their audit entries. Sharing it would make a
registration wait behind prediction batches, and would tie a high-volume, prunable log to
the database that must be backed up. Monitoring opens this file through the same sink.
WAL mode lets readers go on while workers append; a busy timeout lets workers take turns.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.base import PredictionRecord
from modelward.monitoring.predictions.table import check_table, json_texts
from modelward.monitoring.predictions.window import (
    build_fixed,
    build_window_from_json,
    check_columns,
    needs_payload,
    project,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SqlitePredictionSink", "SqlitePredictionSinkConfig"]

#: columns added after the first release, with their DDL: part of a new log's table, and
#: added to a log written before them when it is opened
_ADDED_COLUMNS = {
    "mode": "mode TEXT NOT NULL DEFAULT 'online'",
    "role": "role TEXT NOT NULL DEFAULT 'primary'",
    "release_id": "release_id TEXT NOT NULL DEFAULT ''",
    "error": "error TEXT NOT NULL DEFAULT ''",
}
_DDL = (
    "CREATE TABLE IF NOT EXISTS predictions ("
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, at_us INTEGER NOT NULL, "
    "endpoint TEXT NOT NULL, model TEXT NOT NULL, model_version TEXT NOT NULL, "
    "inputs TEXT NOT NULL, prediction TEXT NOT NULL, latency_ms REAL NOT NULL, "
    f"degraded INTEGER NOT NULL, {', '.join(_ADDED_COLUMNS.values())})",
    "CREATE INDEX IF NOT EXISTS ix_predictions_endpoint_at ON predictions (endpoint, at_us)",
    "CREATE INDEX IF NOT EXISTS ix_predictions_request_id ON predictions (request_id)",
)
_COLUMN_NAMES = (
    "request_id",
    "at_us",
    "endpoint",
    "model",
    "model_version",
    "inputs",
    "prediction",
    "latency_ms",
    "degraded",
    *_ADDED_COLUMNS,
)
_COLUMNS = ", ".join(_COLUMN_NAMES)


_INSERT_ROW = f"INSERT INTO predictions ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMN_NAMES))})"
_INSERT_BATCH = (
    f"INSERT INTO predictions ({_COLUMNS}) SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_COLUMN_NAMES)))
    + " FROM json_each(?) ORDER BY key"
)


class SqlitePredictionSinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["sqlite"] = "sqlite"
    #: database file; relative paths are under the workspace root.
    #: Empty: ``.modelward/predictions.db``
    path: str = ""
    busy_timeout_s: float = Field(default=30.0, gt=0)


class SqlitePredictionSink:
    def __init__(self, path: Path, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self._timeout = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: SqlitePredictionSinkConfig, root: Path) -> SqlitePredictionSink:
        path = Path(config.path) if config.path else root / ".modelward" / "predictions.db"
        if not path.is_absolute():
            path = root / path
        return cls(path, config.busy_timeout_s)

    @property
    def label(self) -> str:
        return f"sqlite:{self.path}"

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                for statement in _DDL:
                    conn.execute(statement)
                have = {row[1] for row in conn.execute("PRAGMA table_info(predictions)")}
                for column, ddl in _ADDED_COLUMNS.items():
                    if column not in have:  # a log from before the column existed
                        conn.execute(f"ALTER TABLE predictions ADD COLUMN {ddl}")
            except (sqlite3.Error, OSError) as exc:
                raise StoreUnavailable(
                    f"cannot open the prediction log {self.label}: {exc}", store=self.label
                ) from None
            self._conn = conn
        return self._conn

    def write(self, records: Sequence[PredictionRecord]) -> None:
        # The whole batch goes in as one JSON array, expanded by SQLite (json_each): one
        # statement, so the writer thread releases and re-takes the GIL once per batch
        # instead of once per row (per-row executemany made the request thread wait on the
        # GIL behind it, row after row).
        option = orjson.OPT_SERIALIZE_NUMPY
        batch = orjson.dumps(
            [
                (
                    r.request_id,
                    r.at_us,
                    r.endpoint,
                    r.model,
                    r.model_version,
                    orjson.dumps(r.inputs, option=option).decode(),
                    orjson.dumps(r.prediction, option=option).decode(),
                    r.latency_ms,
                    int(r.degraded),
                    r.mode,
                    r.role,
                    r.release_id,
                    r.error,
                )
                for r in records
            ]
        ).decode()
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(_INSERT_BATCH, (batch,))
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(
                    f"cannot write the prediction log {self.label}: {exc}", store=self.label
                ) from None

    def write_table(self, endpoint: str, table: pa.Table) -> None:
        # One executemany in one transaction: the rows' tuples come from whole columns
        # (the JSON texts rendered by DuckDB in one pass), no record object per row; a
        # batch writer runs in its own process, so the per-row GIL hand-off that made
        # ``write`` choose json_each does not slow a request thread here.
        check_table(table)
        if not table.num_rows:
            return
        inputs, predictions = json_texts(table)
        column = table.column
        rows = zip(
            column("request_id").to_pylist(),
            column("at_us").to_pylist(),
            repeat(endpoint),
            column("model").to_pylist(),
            column("model_version").to_pylist(),
            inputs,
            predictions,
            column("latency_ms").to_pylist(),
            column("degraded").cast("int8").to_pylist(),
            column("mode").to_pylist(),
            column("role").to_pylist(),
            column("release_id").to_pylist(),
            column("error").to_pylist(),
            strict=False,  # repeat() is endless; the columns are of one length
        )
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(_INSERT_ROW, rows)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(
                    f"cannot write the prediction log {self.label}: {exc}", store=self.label
                ) from None

    def read(self, endpoint: str | None = None, limit: int | None = None) -> list[PredictionRecord]:
        query = f"SELECT {_COLUMNS} FROM predictions"
        args: list[Any] = []
        if endpoint is not None:
            query += " WHERE endpoint = ?"
            args.append(endpoint)
        query += " ORDER BY seq"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._connect().execute(query, args).fetchall()
        return [
            PredictionRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                orjson.loads(r[5]),
                orjson.loads(r[6]),
                r[7],
                bool(r[8]),
                r[9],
                r[10],
                r[11],
                r[12],
            )
            for r in rows
        ]

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
        # The filter runs in SQLite on the (endpoint, at_us) index; only the kept rows'
        # JSON is parsed by Arrow in one pass (window.build_window_from_json), and only
        # when the caller wants inputs or predictions: the JSON is most of a read's cost.
        keep = check_columns(columns)
        payload = needs_payload(keep)
        where: list[str] = ["endpoint = ?"]
        args: list[Any] = [endpoint]
        for clause, value in (
            ("model_version = ?", version),
            ("at_us >= ?", start_us),
            ("at_us < ?", end_us),
            ("seq > ?", None if after is None else int(after)),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        query = (
            "SELECT seq, request_id, at_us, endpoint, model, model_version, latency_ms, "
            f"degraded, mode, role, release_id, error{', inputs, prediction' if payload else ''} "
            f"FROM predictions WHERE {' AND '.join(where)} ORDER BY seq"
        )
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._read(query, args)
        width = 14 if payload else 12
        found = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
        found[0] = [str(seq) for seq in found[0]]
        found[7] = [bool(d) for d in found[7]]
        if not payload and keep is not None:
            return build_fixed(found, keep)
        return project(build_window_from_json(found[:12], found[12], found[13]), keep)

    def _read(self, query: str, args: Sequence[Any]) -> list[Any]:
        try:
            return self._connect().execute(query, args).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot read the prediction log {self.label}: {exc}", store=self.label
            ) from None

    def find_request_ids(self, endpoint: str, request_ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(request_ids))
        found: set[str] = set()
        # a few hundred ids per statement: far below SQLite's variable limit
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            query = (
                f"SELECT DISTINCT request_id FROM predictions WHERE request_id IN ({marks}) "
                "AND endpoint = ?"
            )
            with self._lock:
                found.update(r[0] for r in self._read(query, [*chunk, endpoint]))
        return found

    def prune(self, before_us: int) -> int:
        with self._lock:
            conn = self._connect()
            try:
                return int(
                    conn.execute("DELETE FROM predictions WHERE at_us < ?", (before_us,)).rowcount
                )
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(
                    f"cannot prune the prediction log {self.label}: {exc}", store=self.label
                ) from None

    def count(self, endpoint: str | None = None) -> int:
        query = "SELECT count(*) FROM predictions"
        args: tuple[str, ...] = ()
        if endpoint is not None:
            query += " WHERE endpoint = ?"
            args = (endpoint,)
        with self._lock:
            return int(self._connect().execute(query, args).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

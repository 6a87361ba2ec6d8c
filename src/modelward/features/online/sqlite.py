"""The SQLite online store: the embedded default, one file beside the workspace metadata.

One ``WITHOUT ROWID`` table per namespace, keyed by the entity key, with the values packed
into one BLOB, so a lookup is a single primary-key probe and a batch one ``IN (...)``
query. WAL mode lets readers go on while materialization writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from modelward.errors import OnlineStoreUnavailable
from modelward.features.online.base import Record

__all__ = ["SqliteOnlineStore", "SqliteOnlineStoreConfig"]

# SQLite allows 32766 bound variables; smaller chunks keep statements cacheable
_IN_CHUNK = 500


class SqliteOnlineStoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["sqlite"] = "sqlite"
    #: database file; relative paths are under the workspace root. Empty: .modelward/online.db
    path: str = ""
    busy_timeout_s: float = Field(default=30.0, gt=0)


def _table(namespace: str) -> str:
    return '"fv_' + namespace.replace('"', '""') + '"'


class SqliteOnlineStore:
    def __init__(self, path: Path, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self._timeout = busy_timeout_s
        self._local = threading.local()
        self._known: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: SqliteOnlineStoreConfig, root: Path) -> SqliteOnlineStore:
        path = Path(config.path) if config.path else root / ".modelward" / "online.db"
        if not path.is_absolute():
            path = root / path
        return cls(path, config.busy_timeout_s)

    @property
    def label(self) -> str:
        return f"sqlite:{self.path}"

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path,
                    timeout=self._timeout,
                    isolation_level=None,
                    check_same_thread=False,
                    cached_statements=256,
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except (sqlite3.Error, OSError) as exc:
                raise OnlineStoreUnavailable(
                    f"cannot open the online store {self.label}: {exc}", store=self.label
                ) from None
            self._local.conn = conn
        return conn

    def _exists(self, conn: sqlite3.Connection, namespace: str) -> bool:
        if namespace in self._known:
            return True
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (f"fv_{namespace}",)
        ).fetchone()
        if row is not None:
            self._known.add(namespace)
        return row is not None

    def _create(self, conn: sqlite3.Connection, namespace: str) -> None:
        if namespace not in self._known:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_table(namespace)} ("
                "k TEXT PRIMARY KEY, e INTEGER NOT NULL, c INTEGER NOT NULL, v BLOB NOT NULL"
                ") WITHOUT ROWID"
            )
            self._known.add(namespace)

    def write(self, namespace: str, records: Sequence[Record]) -> None:
        conn = self._conn()
        table = _table(namespace)
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._create(conn, namespace)
                conn.executemany(
                    f"INSERT INTO {table} (k, e, c, v) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (k) DO UPDATE SET e = excluded.e, c = excluded.c, v = excluded.v "
                    f"WHERE excluded.e > {table}.e "
                    f"OR (excluded.e = {table}.e AND excluded.c >= {table}.c)",
                    records,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read(self, namespace: str, keys: Sequence[str]) -> list[Record | None]:
        conn = self._conn()
        table = _table(namespace)
        try:
            if len(keys) == 1:
                row = conn.execute(f"SELECT k, e, c, v FROM {table} WHERE k = ?", keys).fetchone()
                return [Record(*row) if row is not None else None]
            found: dict[str, Record] = {}
            for i in range(0, len(keys), _IN_CHUNK):
                chunk = keys[i : i + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(
                    f"SELECT k, e, c, v FROM {table} WHERE k IN ({marks})", chunk
                ):
                    found[row[0]] = Record(*row)
        except sqlite3.OperationalError:
            if not self._exists(conn, namespace):
                return [None] * len(keys)
            raise
        return [found.get(k) for k in keys]

    def keys(self, namespace: str, limit: int) -> list[str]:
        conn = self._conn()
        if not self._exists(conn, namespace):
            return []
        rows = conn.execute(f"SELECT k FROM {_table(namespace)} LIMIT ?", (limit,)).fetchall()
        return [r[0] for r in rows]

    def count(self, namespace: str) -> int:
        conn = self._conn()
        if not self._exists(conn, namespace):
            return 0
        return int(conn.execute(f"SELECT count(*) FROM {_table(namespace)}").fetchone()[0])

    def drop(self, namespace: str) -> None:
        conn = self._conn()
        with self._lock:
            conn.execute(f"DROP TABLE IF EXISTS {_table(namespace)}")
            self._known.discard(namespace)

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

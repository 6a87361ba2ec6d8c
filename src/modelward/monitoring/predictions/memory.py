"""The in-memory prediction log: the test double, and a sink for notebooks and demos."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.base import PredictionRecord
from modelward.monitoring.predictions.table import records_from_table
from modelward.monitoring.predictions.window import (
    WINDOW_FIELDS,
    WindowQuery,
    build_fixed,
    build_window,
    check_columns,
    needs_payload,
    project,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MemoryPredictionSink", "MemoryPredictionSinkConfig"]


class MemoryPredictionSinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["memory"] = "memory"


class MemoryPredictionSink:
    def __init__(self) -> None:
        self._records: list[PredictionRecord] = []
        #: the write position of each record (its cursor); pruning keeps the others' valid
        self._positions: list[int] = []
        self._next = 0
        self._lock = threading.Lock()
        #: set to make ``write``, windows, lookups and pruning fail as an unreachable backend
        #: would (for tests); ``read`` and ``count`` still show what is stored
        self.unavailable = False

    @classmethod
    def from_config(cls, config: MemoryPredictionSinkConfig, root: Path) -> MemoryPredictionSink:
        return cls()

    @property
    def label(self) -> str:
        return "memory"

    def _check(self) -> None:
        if self.unavailable:
            raise StoreUnavailable("the in-memory prediction log is marked unavailable")

    def write(self, records: Sequence[PredictionRecord]) -> None:
        self._check()
        with self._lock:
            self._records.extend(records)
            self._positions.extend(range(self._next, self._next + len(records)))
            self._next += len(records)

    def write_table(self, endpoint: str, table: pa.Table) -> None:
        # the records are built before the write: a table that cannot be read adds nothing
        self.write(records_from_table(endpoint, table))

    def read(self, endpoint: str | None = None, limit: int | None = None) -> list[PredictionRecord]:
        with self._lock:
            found = [r for r in self._records if endpoint is None or r.endpoint == endpoint]
        return found if limit is None else found[:limit]

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
        self._check()
        query = WindowQuery(endpoint, version, start_us, end_us)
        with self._lock:
            first = 0 if after is None else bisect.bisect_right(self._positions, int(after))
            found = [
                (position, r)
                for position, r in zip(self._positions[first:], self._records[first:], strict=True)
                if query.keeps(r.endpoint, r.model_version, r.at_us)
            ]
        if limit is not None:
            found = found[:limit]
        fixed: list[list[Any]] = [[] for _ in WINDOW_FIELDS]
        for position, r in found:
            row = (str(position), *r[:5], r.latency_ms, r.degraded, *r[9:])
            for column, value in zip(fixed, row, strict=True):
                column.append(value)
        if not needs_payload(keep) and keep is not None:
            return build_fixed(fixed, keep)
        window = build_window(fixed, [r.inputs for _, r in found], [r.prediction for _, r in found])
        return project(window, keep)

    def find_request_ids(self, endpoint: str, request_ids: Iterable[str]) -> set[str]:
        self._check()
        wanted = set(request_ids)
        with self._lock:
            return {r.request_id for r in self._records if r.endpoint == endpoint} & wanted

    def prune(self, before_us: int) -> int:
        self._check()
        with self._lock:
            keep = [i for i, r in enumerate(self._records) if r.at_us >= before_us]
            dropped = len(self._records) - len(keep)
            self._records = [self._records[i] for i in keep]
            self._positions = [self._positions[i] for i in keep]
        return dropped

    def count(self, endpoint: str | None = None) -> int:
        return len(self.read(endpoint))

    def close(self) -> None:
        pass

"""The in-memory prediction log: the test double, and a sink for notebooks and demos."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.base import PredictionRecord

__all__ = ["MemoryPredictionSink", "MemoryPredictionSinkConfig"]


class MemoryPredictionSinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["memory"] = "memory"


class MemoryPredictionSink:
    def __init__(self) -> None:
        self._records: list[PredictionRecord] = []
        self._lock = threading.Lock()
        #: set to make ``write`` fail as an unreachable backend would (for tests)
        self.unavailable = False

    @classmethod
    def from_config(cls, config: MemoryPredictionSinkConfig, root: Path) -> MemoryPredictionSink:
        return cls()

    @property
    def label(self) -> str:
        return "memory"

    def write(self, records: Sequence[PredictionRecord]) -> None:
        if self.unavailable:
            raise StoreUnavailable("the in-memory prediction log is marked unavailable")
        with self._lock:
            self._records.extend(records)

    def read(self, endpoint: str | None = None, limit: int | None = None) -> list[PredictionRecord]:
        with self._lock:
            found = [r for r in self._records if endpoint is None or r.endpoint == endpoint]
        return found if limit is None else found[:limit]

    def count(self, endpoint: str | None = None) -> int:
        return len(self.read(endpoint))

    def close(self) -> None:
        pass

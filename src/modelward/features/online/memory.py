"""The in-memory online store: the test double, and a store for notebooks and demos."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from modelward.features.online.base import Record

__all__ = ["MemoryOnlineStore", "MemoryOnlineStoreConfig"]


class MemoryOnlineStoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["memory"] = "memory"


class MemoryOnlineStore:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, Record]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: MemoryOnlineStoreConfig, root: Path) -> MemoryOnlineStore:
        return cls()

    @property
    def label(self) -> str:
        # unique per instance: two memory stores never share a watermark
        return f"memory:{id(self):x}"

    def write(self, namespace: str, records: Sequence[Record]) -> None:
        with self._lock:
            table = self._data.setdefault(namespace, {})
            for rec in records:
                old = table.get(rec.key)
                if old is None or (rec.event_us, rec.created_us) >= (old.event_us, old.created_us):
                    table[rec.key] = rec

    def read(self, namespace: str, keys: Sequence[str]) -> list[Record | None]:
        table = self._data.get(namespace, {})
        return [table.get(k) for k in keys]

    def keys(self, namespace: str, limit: int) -> list[str]:
        return list(self._data.get(namespace, {}))[:limit]

    def count(self, namespace: str) -> int:
        return len(self._data.get(namespace, {}))

    def drop(self, namespace: str) -> None:
        with self._lock:
            self._data.pop(namespace, None)

    def close(self) -> None:
        pass

"""Online stores behind one port, chosen by the ``type`` of ``[features.online]``.

The type maps to an import path, and the backend module is imported only when a store of
that type is opened, so a missing optional client (``redis``) breaks only that backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelward.config.backends import open_backend
from modelward.features.online.base import OnlineStore, Record

__all__ = ["BACKENDS", "OnlineStore", "Record", "open_online_store"]

#: type -> (module, store class, config class)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "sqlite": ("modelward.features.online.sqlite", "SqliteOnlineStore", "SqliteOnlineStoreConfig"),
    "redis": ("modelward.features.online.redis", "RedisOnlineStore", "RedisOnlineStoreConfig"),
    "memory": ("modelward.features.online.memory", "MemoryOnlineStore", "MemoryOnlineStoreConfig"),
}


def open_online_store(config: Mapping[str, Any], root: Path) -> OnlineStore:
    """Open the store ``config`` describes; relative paths are under ``root``."""
    store: OnlineStore = open_backend(config, BACKENDS, root, setting="features.online")
    return store

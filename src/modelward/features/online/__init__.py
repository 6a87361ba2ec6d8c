"""Online stores behind one port, chosen by the ``type`` of ``[features.online]``.

The type maps to an import path, and the backend module is imported only when a store of
that type is opened, so a missing optional client (``redis``) breaks only that backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelward.features.online.base import OnlineStore, Record
from modelward.plugins import PluginFamily, open_backend

__all__ = ["OnlineStore", "Record", "open_online_store"]

#: the backends of this port: config ``type`` -> "module:Class" (its config class is
#: ``<Class>Config`` in the same module); third-party backends use the entry point group
ONLINE_STORES = PluginFamily(
    kind="online store",
    setting="features.online",
    group="modelward.online_stores",
    builtins={
        "sqlite": "modelward.features.online.sqlite:SqliteOnlineStore",
        "redis": "modelward.features.online.redis:RedisOnlineStore",
        "memory": "modelward.features.online.memory:MemoryOnlineStore",
    },
)


def open_online_store(config: Mapping[str, Any], root: Path) -> OnlineStore:
    """Open the store ``config`` describes; relative paths are under ``root``."""
    store: OnlineStore = open_backend(config, ONLINE_STORES, root)
    return store

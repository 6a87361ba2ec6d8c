"""Online stores behind one port, chosen by the ``type`` of ``[features.online]``.

The type maps to an import path, and the backend module is imported only when a store of
that type is opened, so a missing optional client (``redis``) breaks only that backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelward.errors import ConfigError
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
    kind = config.get("type", "sqlite")
    if kind not in BACKENDS:
        raise ConfigError(
            f"features.online.type {kind!r} is not one of {', '.join(BACKENDS)}",
            field="features.online.type",
        )
    module_name, store_name, config_name = BACKENDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"features.online.type {kind!r} needs a package that is not installed: {exc.name} "
            f"(pip install 'modelward[{kind}]')",
            field="features.online.type",
        ) from None
    try:
        parsed = getattr(module, config_name)(**dict(config))
    except ValidationError as exc:
        where = "; ".join(
            f"features.online.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(where, field="features.online") from None
    store: OnlineStore = getattr(module, store_name).from_config(parsed, root)
    return store

"""Choosing a backend from config: a ``type`` mapped to an import path, imported lazily.

Every port (online feature store, prediction log, ...) keeps its own table of backends;
this opens the one a config section names, with errors that name the setting.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelward.errors import ConfigError

__all__ = ["open_backend"]


def open_backend(
    config: Mapping[str, Any],
    backends: Mapping[str, tuple[str, str, str]],
    root: Path,
    *,
    setting: str,
    default: str = "sqlite",
) -> Any:
    """Open the backend ``config["type"]`` names.

    ``backends`` maps a type to (module, class, config class); the class is built with
    ``from_config(parsed, root)``. ``setting`` (e.g. ``"features.online"``) prefixes every
    message so the user knows which key to fix.
    """
    kind = config.get("type", default)
    if kind not in backends:
        raise ConfigError(
            f"{setting}.type {kind!r} is not one of {', '.join(backends)}",
            field=f"{setting}.type",
        )
    module_name, class_name, config_name = backends[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{setting}.type {kind!r} needs a package that is not installed: {exc.name}",
            field=f"{setting}.type",
        ) from None
    try:
        parsed = getattr(module, config_name)(**dict(config))
    except ValidationError as exc:
        where = "; ".join(
            f"{setting}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(where, field=setting) from None
    return getattr(module, class_name).from_config(parsed, root)

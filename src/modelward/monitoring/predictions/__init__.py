"""The prediction log: a port, its backends (sqlite, redis, memory) and the batching writer.

The backend is chosen by the ``type`` of ``[serving.prediction_log]``; the type maps to an
import path and the module is imported only when a sink of that type is opened.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelward.errors import ConfigError
from modelward.monitoring.predictions.base import PredictionRecord, PredictionSink
from modelward.monitoring.predictions.writer import PredictionLogWriter

__all__ = [
    "BACKENDS",
    "PredictionLogWriter",
    "PredictionRecord",
    "PredictionSink",
    "open_prediction_sink",
]

#: type -> (module, sink class, config class)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "sqlite": (
        "modelward.monitoring.predictions.sqlite",
        "SqlitePredictionSink",
        "SqlitePredictionSinkConfig",
    ),
    "redis": (
        "modelward.monitoring.predictions.redis",
        "RedisPredictionSink",
        "RedisPredictionSinkConfig",
    ),
    "memory": (
        "modelward.monitoring.predictions.memory",
        "MemoryPredictionSink",
        "MemoryPredictionSinkConfig",
    ),
}


def open_prediction_sink(config: Mapping[str, Any], root: Path) -> PredictionSink:
    """Open the sink ``config`` describes; relative paths are under ``root``."""
    kind = config.get("type", "sqlite")
    if kind not in BACKENDS:
        raise ConfigError(
            f"serving.prediction_log.type {kind!r} is not one of {', '.join(BACKENDS)}",
            field="serving.prediction_log.type",
        )
    module_name, sink_name, config_name = BACKENDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"serving.prediction_log.type {kind!r} needs a package that is not installed: "
            f"{exc.name}",
            field="serving.prediction_log.type",
        ) from None
    try:
        parsed = getattr(module, config_name)(**dict(config))
    except ValidationError as exc:
        where = "; ".join(
            f"serving.prediction_log.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(where, field="serving.prediction_log") from None
    sink: PredictionSink = getattr(module, sink_name).from_config(parsed, root)
    return sink

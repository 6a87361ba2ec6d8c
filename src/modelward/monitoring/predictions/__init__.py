"""The prediction log: a port, its backends (sqlite, redis, memory) and the batching writer.

The backend is chosen by the ``type`` of ``[serving.prediction_log]``; the type maps to an
import path and the module is imported only when a sink of that type is opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelward.config.backends import open_backend
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
    sink: PredictionSink = open_backend(config, BACKENDS, root, setting="serving.prediction_log")
    return sink

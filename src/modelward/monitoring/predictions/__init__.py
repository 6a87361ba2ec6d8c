"""The prediction log: a port, its backends (sqlite, segments, redis, memory), the batching
writer and the columnar table of batch writes.

The backend is chosen by the ``type`` of ``[serving.prediction_log]``; the type maps to an
import path and the module is imported only when a sink of that type is opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelward.monitoring.predictions.base import (
    PredictionRecord,
    PredictionSink,
    refusal_error,
    refused_fields,
)
from modelward.monitoring.predictions.quarantine import QuarantineFile, quarantine_path
from modelward.monitoring.predictions.table import prediction_table
from modelward.monitoring.predictions.writer import PredictionLogWriter
from modelward.plugins import PluginFamily, open_backend

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "PredictionLogWriter",
    "PredictionRecord",
    "PredictionSink",
    "QuarantineFile",
    "open_prediction_sink",
    "open_workspace_log",
    "prediction_table",
    "quarantine_path",
    "refusal_error",
    "refused_fields",
]

#: the backends of this port: config ``type`` -> "module:Class" (its config class is
#: ``<Class>Config`` in the same module); third-party backends use the entry point group
PREDICTION_SINKS = PluginFamily(
    kind="prediction log sink",
    setting="serving.prediction_log",
    group="modelward.prediction_sinks",
    builtins={
        "sqlite": "modelward.monitoring.predictions.sqlite:SqlitePredictionSink",
        "redis": "modelward.monitoring.predictions.redis:RedisPredictionSink",
        "memory": "modelward.monitoring.predictions.memory:MemoryPredictionSink",
        "segments": "modelward.monitoring.predictions.segments:SegmentPredictionSink",
    },
)


def open_prediction_sink(config: Mapping[str, Any], root: Path) -> PredictionSink:
    """Open the sink ``config`` describes; relative paths are under ``root``."""
    sink: PredictionSink = open_backend(config, PREDICTION_SINKS, root)
    return sink


def open_workspace_log(session: Session) -> PredictionSink:
    """The sink the workspace's gateways write (``[serving.prediction_log]``), for reading."""
    return open_prediction_sink(
        session.workspace.settings.serving.prediction_log, session.workspace.root
    )

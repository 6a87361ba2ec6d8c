"""Monitoring context. So far: the prediction log the gateway writes (``predictions``)."""

from modelward.monitoring.predictions import (
    PredictionLogWriter,
    PredictionRecord,
    PredictionSink,
    QuarantineFile,
    open_prediction_sink,
    quarantine_path,
)

__all__ = [
    "PredictionLogWriter",
    "PredictionRecord",
    "PredictionSink",
    "QuarantineFile",
    "open_prediction_sink",
    "quarantine_path",
]

"""Monitoring context. So far: the prediction log the gateway writes (``predictions``)."""

from modelward.monitoring.predictions import (
    PredictionLogWriter,
    PredictionRecord,
    PredictionSink,
    open_prediction_sink,
)

__all__ = ["PredictionLogWriter", "PredictionRecord", "PredictionSink", "open_prediction_sink"]

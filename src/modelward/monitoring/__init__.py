"""Monitoring context: the prediction log, reference profiles, drift, delayed labels.

The prediction log's write side (``PredictionLogWriter``, the sinks) is what serving
uses on its hot path, so it loads eagerly and stays light; everything else (numpy, scipy,
SQLAlchemy) loads on first use.

>>> from modelward.monitoring import build_profile, detect_drift
>>> report = detect_drift(build_profile(train), window_inputs)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports
from modelward.monitoring.predictions import (
    PredictionLogWriter,
    PredictionRecord,
    PredictionSink,
    open_prediction_sink,
)

if TYPE_CHECKING:
    from modelward.monitoring.drift import DriftReport, DriftThresholds, FeatureDrift, detect_drift
    from modelward.monitoring.predictions.window import WINDOW_FIELDS
    from modelward.monitoring.profiles import (
        CategoricalProfile,
        NumericProfile,
        ReferenceProfile,
        build_profile,
    )

__all__ = [
    "WINDOW_FIELDS",
    "CategoricalProfile",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "NumericProfile",
    "PredictionLogWriter",
    "PredictionRecord",
    "PredictionSink",
    "ReferenceProfile",
    "build_profile",
    "detect_drift",
    "open_prediction_sink",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "WINDOW_FIELDS": "predictions.window",
        "CategoricalProfile": "profiles",
        "NumericProfile": "profiles",
        "ReferenceProfile": "profiles",
        "build_profile": "profiles",
        "DriftReport": "drift",
        "DriftThresholds": "drift",
        "FeatureDrift": "drift",
        "detect_drift": "drift",
    },
)

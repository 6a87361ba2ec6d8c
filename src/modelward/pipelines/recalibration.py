"""Recalibrating the champion: a calibrator fitted over its scores on recent labelled rows.

When the ranking of a model holds but its scores no longer mean their probability (the
base rate moved), fitting a calibrator is much cheaper than retraining, and keeps what the
model learnt. :func:`calibrate_step` is the step the supervised tabular template runs in
place of its trainers when built with ``recalibrate="isotonic"`` (or ``"sigmoid"``, Platt
scaling): it wraps the Production model, frozen, in scikit-learn's
``CalibratedClassifierCV`` and fits only the calibrator, on the training part of the
window. The result is a plain scikit-learn estimator, so the gateway loads and serves it
like any other version, and the template evaluates it against the champion on the same
held-out rows and registers it with the champion it recalibrates in its lineage.
"""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa

from modelward.errors import InputError
from modelward.pipelines.steps import Step, step

__all__ = ["METHODS", "Method", "calibrate_step", "calibrated"]

Method = Literal["isotonic", "sigmoid"]
METHODS: tuple[Method, ...] = ("isotonic", "sigmoid")


def calibrated(model: Any, x: Any, y: Any, method: Method) -> Any:
    """``model`` (already fitted, left as it is) with a ``method`` calibrator fitted on
    ``x``, ``y`` over its scores."""
    from sklearn.calibration import CalibratedClassifierCV  # type: ignore[import-untyped]

    try:
        from sklearn.frozen import FrozenEstimator  # type: ignore[import-untyped]
    except ImportError:  # scikit-learn < 1.6: "prefit" said the same
        return CalibratedClassifierCV(model, method=method, cv="prefit").fit(x, y)
    return CalibratedClassifierCV(FrozenEstimator(model), method=method).fit(x, y)


def calibrate_step(method: Method, label: str) -> Step:
    """The step ``train_<method>``: the champion recalibrated on the ``train`` rows."""
    if method not in METHODS:
        raise InputError(
            f"recalibrate: {method!r} is not a calibration method; use one of {', '.join(METHODS)}",
            field="recalibrate",
        )

    def recalibrate(
        train: pa.Table,
        feature_lineage: dict[str, Any],
        champion_model: Any,
        champion_info: dict[str, Any],
    ) -> Any:
        if champion_model is None:
            raise InputError(
                "recalibration needs a Production version to recalibrate; there is none",
                field="champion",
            )
        columns = feature_lineage["feature_columns"]
        y = train.column(label).to_numpy(zero_copy_only=False).astype(int)
        if len(set(y.tolist())) < 2:
            raise InputError(
                f"recalibration window: the {train.num_rows} labelled row(s) have one class "
                f"only; a calibrator needs both (widen the window)",
                field="window_from",
            )
        return calibrated(champion_model, train.select(list(columns)).to_pandas(), y, method)

    return step(name=f"train_{method}", outputs=f"model_{method}", version=f"calibrate-{method}")(
        recalibrate
    )

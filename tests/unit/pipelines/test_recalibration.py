"""Recalibrating a fitted model: its ranking kept, its probabilities brought back to the
observed rate; a method that does not exist is refused naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from modelward.errors import InputError
from modelward.pipelines.evaluation import calibration
from modelward.pipelines.recalibration import Method, calibrate_step, calibrated


def _churn(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 3))
    z = -2.0 + 1.5 * x[:, 0] - 0.8 * x[:, 1] + shift
    return x, (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_a_recalibrated_model_keeps_its_ranking_and_fixes_its_calibration(method: Method) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(7)
    model = LogisticRegression().fit(*_churn(rng, 4_000, shift=0.0))
    # later, more customers churn than the model says: the same ranking, a higher rate
    x_fit, y_fit = _churn(rng, 4_000, shift=1.2)
    x_new, y_new = _churn(rng, 4_000, shift=1.2)
    before = model.predict_proba(x_new)[:, 1]
    fixed = calibrated(model, x_fit, y_fit, method).predict_proba(x_new)[:, 1]
    assert calibration(y_new.tolist(), fixed.tolist()).ece < 0.04
    assert calibration(y_new.tolist(), before.tolist()).ece > 0.1
    assert roc_auc_score(y_new, fixed) == pytest.approx(roc_auc_score(y_new, before), abs=0.01)
    # the model it wraps is left as it was
    assert np.array_equal(model.predict_proba(x_new)[:, 1], before)


def test_an_unknown_method_is_refused_naming_the_field() -> None:
    with pytest.raises(InputError, match=r"recalibrate: 'beta' is not a calibration method"):
        calibrate_step("beta", "churned")  # type: ignore[arg-type]

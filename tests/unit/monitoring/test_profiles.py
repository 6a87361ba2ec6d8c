"""Reference profiles: a numeric feature's quantile sketch and figures, a categorical one's
shares with the rare categories pooled, nulls counted apart, and the importance taken from
the model's own weights or, failing that, from shuffling each feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelward.monitoring.profiles import (
    MAX_CATEGORIES,
    OTHER,
    QUANTILES,
    ReferenceProfile,
    build_profile,
)


def test_a_numeric_feature_has_its_figures_and_a_quantile_sketch_without_nulls() -> None:
    values = [float(v) for v in range(1, 101)] + [None] * 25
    profile = build_profile(pa.table({"spend": pa.array(values, pa.float64())}))
    spend = profile.features["spend"]
    assert spend.kind == "numeric"
    assert (spend.count, spend.min, spend.max) == (100, 1.0, 100.0)
    assert spend.null_rate == pytest.approx(0.2)
    assert spend.mean == pytest.approx(50.5)
    assert len(spend.quantiles) == QUANTILES
    assert spend.quantiles == sorted(spend.quantiles)
    assert spend.quantiles[0] > 1.0 and spend.quantiles[-1] < 100.0  # midpoints, not the ends
    assert np.median(spend.quantiles) == pytest.approx(50.5, abs=0.2)
    assert profile.rows == 125


def test_a_column_of_only_nulls_is_profiled_as_empty_not_an_error() -> None:
    profile = build_profile({"x": np.array([np.nan, np.nan])})
    assert (profile.features["x"].count, profile.features["x"].null_rate) == (0, 1.0)


def test_rare_categories_share_one_other_and_the_shares_sum_to_one() -> None:
    names = [f"c{i:02d}" for i in range(MAX_CATEGORIES + 5)]
    # the first 50 twice each, five rare ones once: those five are pooled
    values = [n for n in names[:MAX_CATEGORIES] for _ in range(2)] + names[MAX_CATEGORIES:] + [None]
    plan = build_profile(pa.table({"plan": pa.array(values, pa.string())})).features["plan"]
    assert plan.kind == "categorical"
    assert len(plan.frequencies) == MAX_CATEGORIES + 1
    assert plan.frequencies[OTHER] == pytest.approx(5 / 105)
    assert sum(plan.frequencies.values()) == pytest.approx(1.0)
    assert plan.null_rate == pytest.approx(1 / 106)


def test_importance_is_the_models_own_weights_normalised() -> None:
    class Linear:
        coef_ = np.array([[2.0, -6.0]])  # the sign does not make a feature less important

    profile = build_profile({"a": np.ones(3), "b": np.ones(3)}, model=Linear())
    assert profile.importance == {"a": 0.25, "b": 0.75}
    assert profile.importance_source == "model"
    assert profile.ranked_features() == ["b", "a"]


def test_without_own_weights_importance_comes_from_shuffling_each_feature() -> None:
    class OnlyA:
        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            p = 1 / (1 + np.exp(-frame["a"].to_numpy()))
            return np.column_stack([1 - p, p])

    rng = np.random.default_rng(1)
    held_out = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    profile = build_profile(
        {"a": held_out["a"].to_numpy(), "b": held_out["b"].to_numpy()},
        model=OnlyA(),
        held_out=held_out,
    )
    assert profile.importance_source == "permutation"
    assert profile.importance == {"a": 1.0, "b": 0.0}


def test_a_profile_survives_its_json_form() -> None:
    profile = build_profile(
        pa.table({"spend": [1.0, 2.0, 3.0], "plan": ["a", "b", "a"]}),
        predictions=[0.1, 0.9, 0.4],
        metrics={"roc_auc": 0.8},
    )
    assert ReferenceProfile.from_dict(profile.to_dict()) == profile
    assert profile.prediction is not None and profile.prediction.max == 0.9

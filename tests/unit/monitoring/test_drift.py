"""Drift verdicts on small samples: what a user acts on, and what must never alert."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from modelward.monitoring import (
    DriftThresholds,
    ReferenceProfile,
    build_profile,
    detect_drift,
)

N = 3_000
PLANS = ["basic", "pro", "enterprise"]


def side(seed: int, *, shift: float = 0.0, plan_p: tuple[float, ...] = (0.5, 0.3, 0.2)) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "spend": rng.normal(50.0, 10.0, N) + shift * 10.0,
        "tickets": rng.poisson(3.0, N).astype(float),
        "plan": pa.array(rng.choice(PLANS, N, p=list(plan_p))),
    }


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    return build_profile(side(0))


def status(report, feature: str) -> str:  # type: ignore[no-untyped-def]
    return next(f.status for f in report.features if f.feature == feature)


@pytest.mark.parametrize("seed", range(1, 6))
def test_two_samples_of_one_distribution_never_alert(profile: ReferenceProfile, seed: int) -> None:
    report = detect_drift(profile, side(seed))
    assert report.drifted == []
    assert report.quality_anomalies == {}


def test_a_small_mean_shift_and_a_moved_category_mass_are_found(profile: ReferenceProfile) -> None:
    drifted = side(7, shift=0.3, plan_p=(0.35, 0.45, 0.2))
    report = detect_drift(profile, drifted)
    assert sorted(report.drifted) == ["plan", "spend"]
    spend = next(f for f in report.features if f.feature == "spend")
    # the effect is in standard deviations of the reference, whatever the sample size
    assert spend.effect == pytest.approx(0.3, abs=0.06)
    assert spend.effect_name == "wasserstein_sd"
    assert spend.p_value is not None and spend.p_value < 0.01


def test_a_window_too_small_is_inconclusive_not_stable(profile: ReferenceProfile) -> None:
    few = {k: v[:100] for k, v in side(3, shift=2.0).items()}
    report = detect_drift(profile, few)
    assert {f.status for f in report.features} == {"inconclusive"}
    assert report.drifted == []


def test_a_large_effect_on_noise_is_not_drift_without_the_test() -> None:
    """A low threshold and few rows: the effect may pass it, the corrected test must too."""
    reference = build_profile({"x": np.random.default_rng(0).normal(size=N)})
    loose = DriftThresholds(wasserstein=0.0, min_rows=10)
    window = {"x": np.random.default_rng(1).normal(size=40)}
    assert detect_drift(reference, window, thresholds=loose).drifted == []


def test_unseen_categories_and_null_jumps_are_quality_anomalies(profile: ReferenceProfile) -> None:
    window = side(4)
    spend = window["spend"].copy()
    spend[: N // 5] = np.nan
    plans = window["plan"].to_pylist()
    plans[: N // 10] = ["trial"] * (N // 10)
    report = detect_drift(profile, {**window, "spend": spend, "plan": pa.array(plans)})
    plan = next(f for f in report.features if f.feature == "plan")
    assert plan.unseen_categories == {"trial": pytest.approx(0.1)}
    assert report.quality_anomalies == {
        "spend": ["null_rate_jump"],
        "plan": ["unseen_categories"],
    }
    assert next(
        f for f in report.features if f.feature == "spend"
    ).null_rate_window == pytest.approx(0.2)


def test_a_feature_missing_from_the_window_says_so(profile: ReferenceProfile) -> None:
    window = side(5)
    del window["tickets"]
    report = detect_drift(profile, {**window, "extra": np.zeros(N)})
    assert status(report, "tickets") == "missing"
    assert report.quality_anomalies == {"tickets": ["missing_feature"]}
    assert "extra" not in [f.feature for f in report.features]


def test_prediction_drift_is_reported_beside_the_features() -> None:
    rng = np.random.default_rng(0)
    reference = build_profile({"x": rng.normal(size=N)}, predictions=rng.beta(2, 5, N))
    same = detect_drift(reference, {"x": rng.normal(size=N)}, predictions=rng.beta(2, 5, N))
    moved = detect_drift(reference, {"x": rng.normal(size=N)}, predictions=rng.beta(5, 2, N))
    assert same.prediction is not None and same.prediction.status == "stable"
    assert moved.prediction is not None and moved.prediction.status == "drift"
    assert moved.drifted == []


def test_a_profile_round_trips_through_json_and_ranks_by_importance() -> None:
    class Model:
        feature_importances_ = np.array([0.2, 0.7, 0.1])

    profile = build_profile(side(0), model=Model())
    back = ReferenceProfile.from_dict(profile.to_dict())
    assert back == profile
    assert back.ranked_features() == ["tickets", "spend", "plan"]
    assert back.importance_source == "model"
    assert back.features["plan"].kind == "categorical"


def test_an_arrow_table_window_with_nulls_and_integers_works(profile: ReferenceProfile) -> None:
    data = side(6)
    table = pa.table(
        {
            "spend": pa.array(data["spend"].tolist()),
            "tickets": pa.array(data["tickets"].astype(int)),
            "plan": data["plan"],
        }
    )
    assert detect_drift(profile, table).drifted == []


def test_a_model_without_its_own_importance_gets_permutation_importance() -> None:
    import pandas as pd

    class OnlyFirst:
        """Predicts from the first column only; the others must score zero."""

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            p = 1 / (1 + np.exp(-frame["spend"].to_numpy() / 10.0 + 5))
            return np.column_stack([1 - p, p])

    data = side(0)
    frame = pd.DataFrame({"spend": data["spend"], "tickets": data["tickets"]})
    profile = build_profile(frame.to_dict("series"), model=OnlyFirst(), held_out=frame)
    assert profile.importance_source == "permutation"
    assert profile.importance == {"spend": 1.0, "tickets": 0.0}

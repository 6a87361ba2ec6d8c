"""The training-serving skew check: online values against the offline join at the same
event times, the share of entities that differ per feature, the threshold inclusive, and
the failure message naming the worst feature."""

from __future__ import annotations

import pytest

from modelward.errors import CheckFailed, InputError
from modelward.features.definitions import FeatureView, OnDemandView
from modelward.features.online import Record
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.packing import pack, to_us
from modelward.features.skew import skew_check
from tests.unit.features.support import hours

DTYPES = ["int64", "float64", "string"]


def _online(view: FeatureView, rows: dict[str, tuple[float, list[object]]]) -> MemoryOnlineStore:
    store = MemoryOnlineStore()
    store.write(
        view.online_namespace,
        [
            Record(key, to_us(hours(h)), 10**18, pack(values, DTYPES))
            for key, (h, values) in rows.items()
        ],  # type: ignore[arg-type]
    )
    return store


def test_values_the_offline_join_agrees_with_are_no_skew(stats_view: FeatureView) -> None:
    # the offline join at the same times: driver 1 at 2h (the later created row), driver 2 at 3h
    store = _online(stats_view, {"1": (2, [21, 4.7, "b"]), "2": (3, [0, 3.5, "c"])})
    report = skew_check(stats_view, store, sample=10)
    assert report.sampled == 2
    assert report.mismatch_rate == {"trips": 0.0, "rating": 0.0, "city": 0.0}
    assert report.passed and report.examples == {}


def test_one_entity_in_two_differing_is_half_and_the_threshold_is_inclusive(
    stats_view: FeatureView,
) -> None:
    store = _online(stats_view, {"1": (2, [21, 4.7, "b"]), "2": (3, [99, 3.5, "c"])})
    at_limit = skew_check(stats_view, store, sample=10, threshold=0.5)
    assert at_limit.mismatch_rate["trips"] == 0.5 and at_limit.passed
    (example,) = at_limit.examples["trips"]
    assert (example["key"], example["online"], example["offline"]) == ("2", 99, 0)
    strict = skew_check(stats_view, store, sample=10, threshold=0.49)
    assert not strict.passed
    with pytest.raises(CheckFailed, match=r"trips differs for 50\.00% of 2 entities") as info:
        strict.raise_for_failure()
    assert "above 0.49%" not in info.value.message and "above 49.00%" in info.value.message


def test_an_empty_online_store_samples_nothing_and_passes(stats_view: FeatureView) -> None:
    report = skew_check(stats_view, MemoryOnlineStore(), sample=5)
    assert (report.sampled, report.passed) == (0, True)


def test_a_sample_below_one_and_an_on_demand_view_are_refused(
    stats_view: FeatureView, density: OnDemandView
) -> None:
    with pytest.raises(InputError, match="--sample must be at least 1") as info:
        skew_check(stats_view, MemoryOnlineStore(), sample=0)
    assert info.value.details["field"] == "sample"
    with pytest.raises(InputError, match="is an on-demand view: it is computed on request"):
        skew_check(density, MemoryOnlineStore())  # type: ignore[arg-type]

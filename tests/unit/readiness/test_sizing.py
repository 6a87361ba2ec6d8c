"""``loadtest --recommend``: the price of 1,000 predictions per size, the cheapest size
whose load test met the budget, none when no size did, and bad worker counts refused."""

from __future__ import annotations

from typing import Any

import pytest

from modelward.errors import InputError
from modelward.readiness.loadtest import LoadResult
from modelward.readiness.sizing import MAX_WORKERS, Recommendation, Trial, cost_per_1000, recommend


def result(workers: int, p99_ms: float, errors: int = 0, requests: int = 1000) -> LoadResult:
    return LoadResult(
        "churn",
        "churn@3",
        32,
        5.0,
        workers,
        False,
        200.0,
        requests,
        errors,
        0,
        p99_ms / 2,
        p99_ms * 0.9,
        p99_ms,
        p99_ms / 2,
        200.0,
        50.0,
    )


def trial(workers: int, p99_ms: float, errors: int = 0) -> Trial:
    return Trial(
        workers, result(workers, p99_ms, errors), cost_per_1000(workers, 200.0, 0.05), None
    )


def test_the_price_of_1000_predictions_grows_with_cores_and_falls_with_rate() -> None:
    # one core at 0.036 per hour serving 10 requests/s: 36,000 predictions cost 0.036
    assert cost_per_1000(1, 10.0, 0.036) == pytest.approx(0.001)
    assert cost_per_1000(4, 10.0, 0.036) == pytest.approx(0.004)
    assert cost_per_1000(4, 40.0, 0.036) == pytest.approx(0.001)


def test_the_cheapest_size_meeting_the_budget_is_recommended() -> None:
    # one worker is over the 50 ms p99 budget; two meet it (at the budget exactly); four too
    trials = [trial(1, 80.0), trial(2, 50.0), trial(4, 20.0)]
    advice = Recommendation("churn", 200.0, 50.0, 0.05, trials)
    assert advice.chosen is trials[1]
    shown: dict[str, Any] = advice.to_dict()
    assert shown["recommended_workers"] == 2
    assert shown["recommended_cost_per_1000"] == pytest.approx(cost_per_1000(2, 200.0, 0.05))
    assert [t["meets_budget"] for t in shown["trials"]] == [False, True, True]


def test_a_size_with_too_many_errors_does_not_meet_the_budget_however_fast() -> None:
    # 1% errors is the limit: 11 in 1,000 is over it
    trials = [trial(1, 10.0, errors=11), trial(2, 10.0, errors=10)]
    assert Recommendation("churn", 200.0, 50.0, 0.05, trials).chosen is trials[1]


def test_no_size_meeting_the_budget_recommends_none() -> None:
    advice = Recommendation("churn", 200.0, 50.0, 0.05, [trial(1, 90.0), trial(2, 60.0)])
    assert advice.chosen is None
    assert advice.to_dict()["recommended_workers"] is None


@pytest.mark.parametrize("counts", [(), (0, 2), (1, MAX_WORKERS + 1)])
def test_worker_counts_outside_1_to_16_are_refused_before_any_load(counts: tuple[int, ...]) -> None:
    with pytest.raises(InputError, match=f"workers: between 1 and {MAX_WORKERS} each") as info:
        recommend(None, "churn", rate=10.0, worker_counts=counts)  # type: ignore[arg-type]
    assert info.value.details["field"] == "workers"

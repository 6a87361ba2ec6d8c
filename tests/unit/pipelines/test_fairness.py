"""Fairness parity (selection rate, true-positive rate) and the acceptance policy's checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.pipelines.evaluation import AcceptancePolicy, evaluate
from modelward.pipelines.fairness import fairness, parity

# 4 groups of rows by hand: the numbers below are counted, not computed
Y = [1, 1, 0, 0] * 10 + [1, 1, 0, 0] * 10
PRED = [1, 0, 1, 0] * 10 + [1, 1, 0, 0] * 10
GROUP = ["a"] * 40 + ["b"] * 40


def test_parity_golden_numbers() -> None:
    result = parity(Y, PRED, GROUP, min_group_rows=30)
    assert result["groups"] == {
        "a": {"n": 40, "positives": 20, "selection_rate": 0.5, "true_positive_rate": 0.5},
        "b": {"n": 40, "positives": 20, "selection_rate": 0.5, "true_positive_rate": 1.0},
    }
    assert result["selection_rate_ratio"] == 1.0  # same share flagged...
    assert result["true_positive_rate_difference"] == 0.5  # ...but b's churners all caught


def test_small_groups_are_listed_but_not_judged() -> None:
    result = parity([*Y, 1, 0], [*PRED, 1, 1], [*GROUP, "c", "c"], min_group_rows=30)
    assert result["groups"]["c"]["n"] == 2
    assert result["judged_groups"] == ["a", "b"]
    alone = parity(Y[:40], PRED[:40], GROUP[:40], min_group_rows=30)
    assert alone["selection_rate_ratio"] is None  # one group: nothing to compare


def test_per_segment_parity_leaves_the_attribute_out_of_its_own_segments() -> None:
    plan = (["basic"] * 20 + ["pro"] * 20) * 2
    report = fairness(
        Y, [float(p) for p in PRED], {"g": GROUP}, segments={"plan": plan, "g": GROUP}
    )
    assert set(report["g"]["segments"]) == {"plan=basic", "plan=pro"}
    with pytest.raises(InputError, match="'g' has 3 values for 80 rows"):
        fairness(Y, PRED, {"g": ["a", "b", "c"]})


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 1), st.sampled_from(["x", "y", "z"])),
        min_size=1,
        max_size=200,
    ),
    seed=st.integers(0, 10_000),
)
def test_parity_is_bounded_and_blind_to_row_order_and_group_names(
    rows: list[tuple[int, int, str]], seed: int
) -> None:
    y, pred, g = (list(c) for c in zip(*rows, strict=True))
    first = parity(y, pred, g, min_group_rows=1)
    order = np.random.default_rng(seed).permutation(len(rows))
    renamed = {"x": "q", "y": "r", "z": "s"}
    again = parity(
        [y[i] for i in order],
        [pred[i] for i in order],
        [renamed[g[i]] for i in order],
        min_group_rows=1,
    )
    for key in (
        "selection_rate_ratio",
        "selection_rate_difference",
        "true_positive_rate_difference",
    ):
        assert first[key] == again[key]
        if first[key] is not None:
            assert 0.0 <= first[key] <= 1.0
    rates = {v["selection_rate"] for v in first["groups"].values()}
    if first["selection_rate_ratio"] is not None:
        assert (first["selection_rate_ratio"] == 1.0) == (len(rates) == 1 or max(rates) == 0)


def _evaluation(pred_b: float) -> object:
    rng = np.random.default_rng(3)
    n = 400
    g = np.array(["a", "b"] * (n // 2))
    y = rng.integers(0, 2, n)
    p = np.where(g == "a", np.where(y == 1, 0.8, 0.2), np.where(y == 1, pred_b, 0.2))
    plan = ["basic", "basic", "pro", "pro"] * (n // 4)
    return evaluate(y, p, segments={"plan": plan}, sensitive={"g": g})


def test_acceptance_policy_judges_fairness_overall_and_per_segment() -> None:
    policy = AcceptancePolicy(
        max_ece=1.0, min_selection_rate_ratio=0.8, max_true_positive_rate_difference=0.1
    )
    fair = policy.judge(_evaluation(0.8), None)  # type: ignore[arg-type]
    names = [c.name for c in fair.checks if c.name.startswith("fairness")]
    assert "fairness g: selection-rate ratio" in names
    assert "fairness g in plan=basic: true-positive-rate difference" in names
    assert all(c.passed for c in fair.checks if c.name.startswith("fairness"))
    # b's churners are missed: scored 0.3, below the threshold
    unfair = policy.judge(_evaluation(0.3), None)  # type: ignore[arg-type]
    failing = {c.name: c for c in unfair.checks if not c.passed}
    assert not unfair.passed
    check = failing["fairness g: true-positive-rate difference"]
    assert check.observed == 1.0 and check.threshold == 0.1
    assert "need <= 0.1" in check.message


def test_a_fairness_policy_without_a_sensitive_attribute_fails_closed() -> None:
    ev = evaluate([0, 1] * 50, [0.2, 0.8] * 50)
    result = AcceptancePolicy(max_ece=1.0, min_selection_rate_ratio=0.8).judge(ev, None)
    [check] = [c for c in result.checks if c.name == "fairness"]
    assert not check.passed and "declared no sensitive attribute" in check.message
    with pytest.raises(InputError, match="min_selection_rate_ratio: must be between 0 and 1"):
        AcceptancePolicy(min_selection_rate_ratio=1.5)

"""Every result of the built-in gates compared whole: gate name, verdict, message, evidence.

A promotion's refusal shows the user these messages and stores the evidence in the
transition record and the audit log, so a changed word or a dropped evidence field is a
change a user sees. The gates' own refusals of a bad policy (no metric, a negative delta)
are compared whole too: they are what `modelward model gates set` prints.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from modelward.registry.gates import GateContext, GateResult, LineageComplete, MetricAbove
from modelward.registry.gates import MetricBeatsProduction as Beats
from tests.unit.registry.test_gates import _version
from tests.unit.registry.test_lineage import complete


def _with(
    metrics: Any = None,
    *,
    version: int = 2,
    evaluation: Any = "sha256:a",
    auc: Any = None,
) -> Any:
    record = copy.deepcopy(complete())
    if auc is not None:
        metrics = {"overall": {"auc": auc}, "segments": {}}
    record["metrics"] = metrics
    record["evaluation"] = evaluation
    return _version(record, version)


def _eval(hash_: str | None) -> dict[str, Any]:
    return {"snapshot_id": "s1", "content_hash": hash_}


def _ctx(cand: Any, prod: Any = None) -> GateContext:
    return GateContext(cand, prod, "Production")


# --- lineage_complete -----------------------------------------------------------------------


def test_the_lineage_gate_names_every_missing_item_in_its_message() -> None:
    record = copy.deepcopy(complete())
    record["params"] = {}
    record["git"]["commit"] = None
    result = LineageComplete().evaluate(_ctx(_version(record)))
    assert result == GateResult(
        "lineage_complete",
        False,
        "lineage incomplete: missing hyperparameters, git commit",
        {"missing": ["hyperparameters", "git commit"]},
    )


def test_the_lineage_gate_passes_a_complete_record_with_its_own_name() -> None:
    assert LineageComplete().evaluate(_ctx(_version(complete()))) == GateResult(
        "lineage_complete", True, "lineage complete", {"missing": []}
    )


# --- metric_above -----------------------------------------------------------------------------


def test_metric_above_reports_value_and_threshold_in_its_message() -> None:
    cand = _with(auc=0.9)
    assert MetricAbove("auc", 0.5).evaluate(_ctx(cand)) == GateResult(
        "metric_above",
        True,
        "auc = 0.9 is above 0.5",
        {"metric": "auc", "value": 0.9, "threshold": 0.5},
    )
    assert MetricAbove("auc", 0.95).evaluate(_ctx(cand)) == GateResult(
        "metric_above",
        False,
        "auc = 0.9 is not above 0.95",
        {"metric": "auc", "value": 0.9, "threshold": 0.95},
    )


def test_an_integer_threshold_and_metric_are_reported_as_floats() -> None:
    result = MetricAbove("auc", 1).evaluate(_ctx(_with(auc=2)))
    assert result == GateResult(
        "metric_above",
        True,
        "auc = 2 is above 1",
        {"metric": "auc", "value": 2.0, "threshold": 1.0},
    )
    assert type(result.evidence["value"]) is float
    assert type(result.evidence["threshold"]) is float


@pytest.mark.parametrize(
    "metrics",
    [None, {}, {"overall": None}, {"overall": {}}, {"overall": {"f1": 0.9}}],
    ids=["no-metrics", "empty", "overall-null", "overall-empty", "other-metric"],
)
def test_metric_above_fails_when_the_metric_was_not_recorded(metrics: Any) -> None:
    result = MetricAbove("auc", 0.1).evaluate(_ctx(_with(metrics)))
    assert result == GateResult(
        "metric_above",
        False,
        "metric 'auc' was not recorded",
        {"metric": "auc", "value": None, "threshold": 0.1},
    )


def test_a_negative_infinity_is_not_a_recorded_metric() -> None:
    result = MetricAbove("auc", -1e300).evaluate(_ctx(_with(auc=float("-inf"))))
    assert (result.passed, result.evidence["value"]) == (False, None)


@pytest.mark.parametrize("metric", ["", None, 3])
def test_metric_above_refuses_a_missing_metric_name(metric: Any) -> None:
    with pytest.raises(ValueError) as info:
        MetricAbove(metric, 0.5)
    assert str(info.value) == "metric: a metric name is required"


def test_metric_above_refuses_a_threshold_that_is_not_a_number() -> None:
    with pytest.raises(ValueError, match="could not convert string to float"):
        MetricAbove("auc", "high")  # type: ignore[arg-type]


# --- metric_beats_production ------------------------------------------------------------------


def test_with_no_production_version_the_comparison_passes_with_its_evidence() -> None:
    result = Beats("auc", delta=0.25, higher_is_better=False).evaluate(_ctx(_with(auc=0.5)))
    assert result == GateResult(
        "metric_beats_production",
        True,
        "no Production version to compare against",
        {
            "metric": "auc",
            "delta": 0.25,
            "higher_is_better": False,
            "candidate": 0.5,
            "production": None,
        },
    )


def test_a_win_over_production_reports_both_values_and_the_improvement() -> None:
    prod = _with(auc=0.75, version=1, evaluation=_eval("sha256:e"))
    cand = _with(auc=0.875, evaluation=_eval("sha256:e"))
    result = Beats("auc", delta=0.125).evaluate(_ctx(cand, prod))
    assert result == GateResult(
        "metric_beats_production",
        True,
        "auc: 0.875 vs Production v1 0.75 (improvement +0.125, needed +0.125)",
        {
            "metric": "auc",
            "delta": 0.125,
            "higher_is_better": True,
            "candidate": 0.875,
            "production_version": 1,
            "production": 0.75,
            "candidate_evaluation": "sha256:e",
            "production_evaluation": "sha256:e",
            "improvement": 0.125,
        },
    )


def test_a_loss_when_lower_is_better_reports_a_negative_improvement() -> None:
    prod = _with(auc=0.25, version=1, evaluation=_eval("sha256:e"))
    cand = _with(auc=0.5, evaluation=_eval("sha256:e"))
    result = Beats("auc", higher_is_better=False).evaluate(_ctx(cand, prod))
    assert (result.passed, result.message) == (
        False,
        "auc: 0.5 vs Production v1 0.25 (improvement -0.25, needed +0)",
    )
    assert result.evidence["improvement"] == -0.25


def test_a_missing_metric_is_named_with_the_production_version_and_both_hashes() -> None:
    prod = _with({"overall": {"f1": 0.5}}, version=4, evaluation=_eval("sha256:p"))
    cand = _with(auc=0.9, evaluation=_eval("sha256:c"))
    result = Beats("auc").evaluate(_ctx(cand, prod))
    assert result == GateResult(
        "metric_beats_production",
        False,
        "metric 'auc' missing on the candidate or on Production version 4",
        {
            "metric": "auc",
            "delta": 0.0,
            "higher_is_better": True,
            "candidate": 0.9,
            "production_version": 4,
            "production": None,
            "candidate_evaluation": "sha256:c",
            "production_evaluation": "sha256:p",
        },
    )


@pytest.mark.parametrize(
    ("cand_eval", "prod_eval"),
    [
        (_eval("sha256:new"), _eval("sha256:old")),
        (None, _eval("sha256:old")),
        (_eval(None), _eval(None)),
        ({}, {}),
        (None, None),
    ],
    ids=["differ", "candidate-unevaluated", "both-unhashed", "both-empty", "both-none"],
)
def test_other_or_unknown_evaluation_data_fails_naming_the_production_version(
    cand_eval: Any, prod_eval: Any
) -> None:
    prod = _with(auc=0.5, version=3, evaluation=prod_eval)
    cand = _with(auc=0.9, evaluation=cand_eval)
    result = Beats("auc").evaluate(_ctx(cand, prod))
    assert (result.gate, result.passed, result.message) == (
        "metric_beats_production",
        False,
        "not evaluated on the same data as Production version 3 (evaluation snapshot "
        "hashes differ or are missing)",
    )
    assert "improvement" not in result.evidence
    assert result.evidence["candidate_evaluation"] == (cand_eval or {}).get("content_hash")
    assert result.evidence["production_evaluation"] == (prod_eval or {}).get("content_hash")


def test_a_delta_of_zero_is_allowed_and_a_negative_one_refused_whole() -> None:
    assert Beats("auc", delta=0).delta == 0
    with pytest.raises(ValueError) as info:
        Beats("auc", delta=-0.001)
    assert str(info.value) == "delta: must be >= 0"


@pytest.mark.parametrize("metric", ["", None, 3])
def test_metric_beats_production_refuses_a_missing_metric_name(metric: Any) -> None:
    with pytest.raises(ValueError) as info:
        Beats(metric)
    assert str(info.value) == "metric: a metric name is required"


def test_the_gates_default_names_are_their_policy_types() -> None:
    assert (LineageComplete().name, MetricAbove("a", 0).name, Beats("a").name) == (
        "lineage_complete",
        "metric_above",
        "metric_beats_production",
    )
    assert (Beats("a").delta, Beats("a").higher_is_better) == (0.0, True)


# the rule, as a property: with both sides measured on the same data, the gate passes
# exactly when the signed improvement reaches delta (values on a 1/64 grid: exact floats)
_grid = st.integers(0, 64).map(lambda n: n / 64)


@given(cand=_grid, prod=_grid, delta=_grid, higher=st.booleans())
@example(cand=0.75, prod=0.5, delta=0.25, higher=True)  # exactly delta: passes
@example(cand=0.25, prod=0.5, delta=0.25, higher=False)  # exactly delta, lower is better
@example(cand=0.5, prod=0.5, delta=0.0, higher=True)  # a tie passes a zero delta
@example(cand=0.5, prod=0.5, delta=1 / 64, higher=False)
def test_beating_production_is_the_signed_gain_reaching_delta(
    cand: float, prod: float, delta: float, higher: bool
) -> None:
    ctx = _ctx(
        _with(auc=cand, evaluation=_eval("sha256:e")),
        _with(auc=prod, version=1, evaluation=_eval("sha256:e")),
    )
    result = Beats("auc", delta=delta, higher_is_better=higher).evaluate(ctx)
    gain = cand - prod if higher else prod - cand
    assert result.passed is (gain >= delta)
    assert result.evidence["improvement"] == gain

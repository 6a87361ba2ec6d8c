"""The built-in gates at their edges: one missing lineage item, a metric at its threshold.

A gate that only ever sees versions missing everything, or metrics far from the line,
cannot tell ``if missing`` from ``if len(missing) > 1`` or ``>`` from ``>=``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from modelward.registry.gates import GateContext, GateResult, LineageComplete, MetricAbove
from modelward.registry.gates import MetricBeatsProduction as Beats
from modelward.registry.gates.base import build_gates, evaluate_all
from modelward.registry.lineage import ITEMS, empty_record, missing_items
from modelward.registry.versions import ModelVersion
from tests.unit.registry.test_lineage import complete

# what removing each item from a complete record looks like
_REMOVE: dict[str, Any] = {
    "model artifact": lambda r: r.update(model_artifact={"uri": ""}),
    "dataset snapshots": lambda r: r["datasets"].append({"snapshot_id": "s2"}),
    "feature views": lambda r: r.update(feature_views=None),
    "hyperparameters": lambda r: r.update(params={}),
    "metrics": lambda r: r.update(metrics={"overall": {}, "segments": {}}),
    "split logic and seed": lambda r: r["split"].update(logic=""),
    "python version": lambda r: r["environment"].update(python=None),
    "locked package versions": lambda r: r["environment"].update(packages_hash=""),
    "git commit": lambda r: r["git"].update(commit=None),
    "author": lambda r: r.update(author=""),
}


def _version(lineage: dict[str, Any], version: int = 2) -> ModelVersion:
    missing = missing_items(lineage)
    return ModelVersion(
        "churn",
        version,
        "None",
        "modelward",
        None,
        "x",
        lineage,
        not missing,
        missing,
        "ana",
        datetime.now(UTC),
        None,
    )


def test_every_item_has_a_way_to_go_missing() -> None:
    assert set(_REMOVE) == set(ITEMS)


@pytest.mark.parametrize("item", ITEMS)
def test_exactly_one_missing_item_is_found_and_fails_the_gate(item: str) -> None:
    record = copy.deepcopy(complete())
    _REMOVE[item](record)
    assert missing_items(record) == [item]
    result = LineageComplete().evaluate(GateContext(_version(record), None, "Production"))
    assert not result.passed
    assert result.evidence == {"missing": [item]}
    assert item in result.message


def test_a_complete_record_passes_the_lineage_gate() -> None:
    result = LineageComplete().evaluate(GateContext(_version(complete()), None, "Staging"))
    assert (result.passed, result.evidence) == (True, {"missing": []})


def test_datasets_must_be_known_and_each_hashed() -> None:
    for datasets in (None, []):
        record = complete() | {"datasets": datasets}
        assert missing_items(record) == ["dataset snapshots"]


def test_packages_and_their_hash_are_both_needed() -> None:
    record = copy.deepcopy(complete())
    record["environment"]["packages"] = {}
    assert missing_items(record) == ["locked package versions"]


def test_a_split_with_seed_zero_is_complete() -> None:
    record = copy.deepcopy(complete())
    record["split"]["seed"] = 0
    assert missing_items(record) == []


def _with_auc(auc: float, *, version: int = 2, evaluation: str = "sha256:a") -> ModelVersion:
    record = copy.deepcopy(complete())
    record["metrics"] = {"overall": {"auc": auc}, "segments": {}}
    record["evaluation"] = {"snapshot_id": "s1", "content_hash": evaluation}
    return _version(record, version)


def test_metric_above_is_strict_at_its_threshold() -> None:
    cand = _with_auc(0.8)
    assert not MetricAbove("auc", 0.8).evaluate(GateContext(cand, None, "Production")).passed
    assert MetricAbove("auc", 0.7999).evaluate(GateContext(cand, None, "Production")).passed
    result = MetricAbove("auc", 0.8).evaluate(GateContext(cand, None, "Production"))
    assert result.evidence == {"metric": "auc", "value": 0.8, "threshold": 0.8}
    assert "not above" in result.message


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.9", None])
def test_a_metric_that_is_not_a_finite_number_counts_as_not_recorded(value: object) -> None:
    record = copy.deepcopy(complete())
    record["metrics"] = {"overall": {"auc": value}, "segments": {}}
    result = MetricAbove("auc", 0.1).evaluate(GateContext(_version(record), None, "Production"))
    assert not result.passed
    assert "not recorded" in result.message


def test_beating_production_by_exactly_delta_passes() -> None:
    prod = _with_auc(0.75, version=1)
    ctx = GateContext(_with_auc(0.875), prod, "Production")  # exact in binary: no rounding
    assert Beats("auc", delta=0.125).evaluate(ctx).passed
    assert not Beats("auc", delta=0.1250001).evaluate(ctx).passed
    lower = GateContext(_with_auc(0.625), prod, "Production")
    assert Beats("auc", delta=0.125, higher_is_better=False).evaluate(lower).passed
    result = Beats("auc", delta=0.125, higher_is_better=False).evaluate(ctx)
    assert not result.passed and result.evidence["improvement"] == -0.125


def test_beating_production_needs_the_same_evaluation_data() -> None:
    prod = _with_auc(0.5, version=1, evaluation="sha256:old")
    result = Beats("auc").evaluate(GateContext(_with_auc(0.9), prod, "Production"))
    assert not result.passed and "same data" in result.message
    nothing = _with_auc(0.5, version=1, evaluation="")
    unhashed = GateContext(_with_auc(0.9, evaluation=""), nothing, "Production")
    assert not Beats("auc").evaluate(unhashed).passed


def test_a_gate_that_raises_fails_closed_with_its_error_as_evidence() -> None:
    class Broken:
        name = "broken"

        def evaluate(self, context: GateContext) -> Any:
            raise RuntimeError("no network")

    (result,) = evaluate_all([Broken()], GateContext(_version(complete()), None, "Staging"))
    assert (result.gate, result.passed) == ("broken", False)
    assert result.evidence == {"error": "RuntimeError"}
    assert "no network" in result.message


def test_bad_gate_specs_name_their_place() -> None:
    from modelward.errors import ConfigError

    with pytest.raises(ConfigError, match=r"gate_policy\.Production\[1\]\.type: unknown gate"):
        build_gates(
            [{"type": "lineage_complete"}, {"type": "nope"}], where="gate_policy.Production"
        )
    with pytest.raises(ConfigError, match=r"p\[0\]: a gate is"):
        build_gates([{"metric": "auc"}], where="p")
    with pytest.raises(ConfigError, match=r"p\[0\]: gate 'metric_beats_production': delta"):
        build_gates([{"type": "metric_beats_production", "metric": "auc", "delta": -1}], where="p")


def test_an_empty_record_misses_every_item_in_order() -> None:
    assert missing_items(empty_record()) == list(ITEMS)


@pytest.mark.parametrize("missing", ["candidate", "production"])
def test_a_metric_missing_on_either_side_fails_the_comparison(missing: str) -> None:
    with_metric = _with_auc(0.9)
    without = copy.deepcopy(complete())
    without["metrics"] = {"overall": {"f1": 0.5}, "segments": {}}
    cand, prod = (_version(without), _with_auc(0.5, version=1))
    if missing == "production":
        cand, prod = with_metric, _version(without, 1)
    result = Beats("auc").evaluate(GateContext(cand, prod, "Production"))
    assert not result.passed
    assert "missing on the candidate or on Production version 1" in result.message


def test_every_result_names_its_gate_and_passes_as_a_boolean() -> None:
    prod = _with_auc(0.75, version=1)
    contexts = [
        GateContext(_with_auc(0.9), None, "Production"),
        GateContext(_with_auc(0.9), prod, "Production"),
        GateContext(_with_auc(0.9, evaluation="sha256:x"), prod, "Production"),
    ]
    for ctx in contexts:
        for gate in (Beats("auc"), MetricAbove("auc", 0.5), LineageComplete()):
            result = gate.evaluate(ctx)
            assert result.gate == gate.name
            assert type(result.passed) is bool
            assert result.to_dict()["gate"] == gate.name


# --- the gate port: building gates from a policy, evaluating them -------------------------------


def test_a_policy_builds_each_gate_with_its_params_and_every_builtin_loads() -> None:
    from modelward.registry.gates.base import GATES

    built = build_gates(
        [
            {"type": "lineage_complete"},
            {"type": "metric_above", "metric": "auc", "threshold": 0.5},
            {"type": "metric_beats_production", "metric": "auc", "delta": 0.125},
        ]
    )
    assert built == [LineageComplete(), MetricAbove("auc", 0.5), Beats("auc", delta=0.125)]
    for type_name in GATES.builtins:  # each built-in's import path points at a real factory
        assert callable(GATES.load(type_name))


@pytest.mark.parametrize("spec", ["lineage_complete", {"type": 5}, {"metric": "auc"}])
def test_a_spec_that_is_not_a_typed_mapping_is_refused_whole(spec: object) -> None:
    from modelward.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        build_gates([{"type": "lineage_complete"}, spec], where="gate_policy.Staging")  # type: ignore[list-item]
    assert str(info.value) == ("gate_policy.Staging[1]: a gate is {'type': <name>, ...params}")
    assert info.value.details == {"field": "gate_policy.Staging[1]"}


def test_a_gate_given_a_parameter_it_does_not_take_is_refused_naming_its_place() -> None:
    from modelward.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        build_gates([{"type": "metric_above", "metric": "auc", "threshold": 1, "oops": 2}])
    assert str(info.value).startswith("gate_policy[0]: gate 'metric_above': ")
    assert "oops" in str(info.value)
    assert info.value.details == {"field": "gate_policy[0]"}


def test_a_gate_registered_in_process_is_built_by_its_type() -> None:
    from modelward.registry.gates.base import GATES, register_gate

    @dataclass(frozen=True)
    class Always:
        verdict: bool
        name: str = "always"

        def evaluate(self, context: GateContext) -> GateResult:
            return GateResult(self.name, self.verdict, "as configured", {"v": self.verdict})

    register_gate("always_test", Always)
    try:
        (gate,) = build_gates([{"type": "always_test", "verdict": False}])
        ctx = GateContext(_version(complete()), None, "Staging")
        (result,) = evaluate_all([gate, LineageComplete()], ctx)[:1]
        assert result.to_dict() == {
            "gate": "always",
            "passed": False,
            "message": "as configured",
            "evidence": {"v": False},
        }
        assert [r.gate for r in evaluate_all([gate, LineageComplete()], ctx)] == [
            "always",
            "lineage_complete",
        ]
    finally:
        GATES._registered.pop("always_test", None)


def test_a_raising_gate_without_a_name_is_named_by_its_class_and_the_rest_still_run() -> None:
    class Nameless:
        def evaluate(self, context: GateContext) -> Any:
            raise ValueError("bad threshold")

    ctx = GateContext(_version(complete()), None, "Staging")
    first, second = evaluate_all([Nameless(), LineageComplete()], ctx)  # type: ignore[list-item]
    assert (first.gate, first.passed, first.message) == (
        "Nameless",
        False,
        "gate raised ValueError: bad threshold",
    )
    assert first.evidence == {"error": "ValueError"}
    assert (second.gate, second.passed) == ("lineage_complete", True)

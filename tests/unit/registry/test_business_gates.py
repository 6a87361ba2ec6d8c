"""The business gates on version records: fairness parity and forbidden inputs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelward.errors import ConfigError
from modelward.registry.gates import GateContext, build_gates, evaluate_all
from modelward.registry.versions import ModelVersion

FAIR = {
    "region": {
        "threshold": 0.5,
        "overall": {
            "selection_rate_ratio": 0.9,
            "selection_rate_difference": 0.02,
            "true_positive_rate_difference": 0.05,
        },
        "segments": {
            "plan=basic": {"selection_rate_ratio": 0.6, "true_positive_rate_difference": 0.04},
            "plan=tiny": {"selection_rate_ratio": None, "true_positive_rate_difference": None},
        },
    }
}


def _version(**lineage: Any) -> ModelVersion:
    return ModelVersion(
        "churn",
        3,
        "None",
        "modelward",
        "run",
        "models:/m-1",
        lineage,
        True,
        [],
        "dev",
        datetime.now(UTC),
        None,
    )


def _run(specs: list[dict[str, Any]], version: ModelVersion) -> list[Any]:
    return evaluate_all(build_gates(specs), GateContext(version, None, "Production"))


def test_fairness_gate_passes_overall_and_names_the_segment_that_fails() -> None:
    v = _version(fairness=FAIR)
    overall_only = {
        "type": "fairness",
        "attribute": "region",
        "min_selection_rate_ratio": 0.8,
        "per_segment": False,
    }
    [passed] = _run([overall_only], v)
    assert passed.passed and "within thresholds" in passed.message
    [failed] = _run([overall_only | {"per_segment": True}], v)
    assert not failed.passed
    assert failed.message == "selection-rate ratio across region in plan=basic 0.600 (need >= 0.8)"
    # a segment too small to measure is not judged
    assert [c["name"] for c in failed.evidence["checks"]] == [
        "fairness region: selection-rate ratio",
        "fairness region in plan=basic: selection-rate ratio",
    ]


def test_fairness_gate_fails_closed_without_a_recorded_evaluation() -> None:
    spec = {"type": "fairness", "attribute": "gender", "max_true_positive_rate_difference": 0.1}
    [result] = _run([spec], _version(fairness=FAIR))
    assert not result.passed and "no fairness evaluation across 'gender'" in result.message
    with pytest.raises(ConfigError, match="give min_selection_rate_ratio"):
        build_gates([{"type": "fairness", "attribute": "region"}])
    with pytest.raises(ConfigError, match="must be a number between 0 and 1"):
        build_gates([{"type": "fairness", "attribute": "region", "min_selection_rate_ratio": 2}])


@pytest.mark.parametrize(
    ("lineage", "passed", "text"),
    [
        ({"model_inputs": ["plan", "Gender"]}, False, "forbidden input(s) Gender"),
        (
            {"model_artifact": {"uri": "x", "signature_inputs": ["age", "email"]}},
            False,
            "forbidden input(s) email",
        ),
        ({"model_inputs": ["plan", "tenure"]}, True, "none of gender, email among the model's 2"),
        ({"model_artifact": {"uri": "x", "signature_inputs": None}}, False, "are unknown"),
    ],
)
def test_forbidden_inputs_read_the_signature_and_the_lineage(
    lineage: dict[str, Any], passed: bool, text: str
) -> None:
    [result] = _run(
        [{"type": "forbidden_inputs", "features": ["gender", "email"]}], _version(**lineage)
    )
    assert result.passed is passed and text in result.message


def test_forbidden_inputs_needs_a_list() -> None:
    with pytest.raises(ConfigError, match="features: a list of input names"):
        build_gates([{"type": "forbidden_inputs", "features": "gender"}])

"""Promotion gates: the port, built-ins and the plugin registry."""

from modelward.registry.gates.base import (
    Gate,
    GateContext,
    GateResult,
    build_gates,
    evaluate_all,
    register_gate,
)
from modelward.registry.gates.builtin import LineageComplete, MetricAbove, MetricBeatsProduction
from modelward.registry.gates.business import (
    FairnessParity,
    ForbiddenInputs,
    ParityCheck,
    model_inputs,
    parity_checks,
)

__all__ = [
    "FairnessParity",
    "ForbiddenInputs",
    "Gate",
    "GateContext",
    "GateResult",
    "LineageComplete",
    "MetricAbove",
    "MetricBeatsProduction",
    "ParityCheck",
    "build_gates",
    "evaluate_all",
    "model_inputs",
    "parity_checks",
    "register_gate",
]

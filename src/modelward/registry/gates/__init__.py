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

__all__ = [
    "Gate",
    "GateContext",
    "GateResult",
    "LineageComplete",
    "MetricAbove",
    "MetricBeatsProduction",
    "build_gates",
    "evaluate_all",
    "register_gate",
]

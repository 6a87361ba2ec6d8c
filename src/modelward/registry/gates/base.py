"""The gate port: code that says whether a version may enter a stage, with evidence.

A gate is any object with a ``name`` and ``evaluate(context) -> GateResult``. The gate
types are a :class:`~modelward.plugins.PluginFamily`: built-ins live in
:mod:`modelward.registry.gates.builtin` and :mod:`~modelward.registry.gates.feature_skew`;
custom gates are registered in process with :func:`register_gate` or shipped by a package
under the ``modelward.gates`` entry point group (``mygate = mypkg.gates:factory``);
``factory(**params)`` returns the gate. A model's gate policy names gates as
``{"type": "<name>", **params}``.

The context carries the session the promotion was asked in and who asked, so a gate
that reads the workspace (the feature-skew gate) reads that one, never whatever the
process's environment or working folder would resolve to.

A gate that raises counts as failed (fail closed), its error kept as evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelward.errors import ConfigError
from modelward.plugins import PluginFamily

if TYPE_CHECKING:
    from modelward.registry.versions import ModelVersion
    from modelward.security import Principal
    from modelward.session import Session

__all__ = [
    "GATES",
    "Gate",
    "GateContext",
    "GateFactory",
    "GateResult",
    "build_gates",
    "evaluate_all",
    "register_gate",
]


@dataclass(frozen=True)
class GateContext:
    candidate: ModelVersion
    #: the model's current Production version, if any (never the candidate itself)
    production: ModelVersion | None
    target_stage: str
    #: the session the transition was asked in: the workspace a gate must read. ``None``
    #: only for gates evaluated outside a transition (unit tests of pure gates); a gate
    #: that needs the workspace fails closed without one.
    session: Session | None = field(default=None, compare=False)
    #: who asked for the transition
    principal: Principal | None = field(default=None, compare=False)


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "message": self.message,
            "evidence": self.evidence,
        }


class Gate(Protocol):
    """One check. ``name`` identifies it in results; ``evaluate`` must not write anything."""

    @property
    def name(self) -> str: ...

    def evaluate(self, context: GateContext) -> GateResult: ...


GateFactory = Callable[..., Gate]

#: gate ``type`` -> "module:factory"; ``factory(**params)`` returns the gate
GATES = PluginFamily(
    kind="gate",
    setting="gate_policy",
    group="modelward.gates",
    builtins={
        "lineage_complete": "modelward.registry.gates.builtin:LineageComplete",
        "metric_above": "modelward.registry.gates.builtin:MetricAbove",
        "metric_beats_production": "modelward.registry.gates.builtin:MetricBeatsProduction",
        "feature_skew": "modelward.registry.gates.feature_skew:feature_skew",
    },
)


def register_gate(type_name: str, factory: GateFactory) -> None:
    """Make ``{"type": type_name, ...}`` usable in gate policies in this process."""
    GATES.register(type_name, factory)


def build_gates(specs: Sequence[Mapping[str, Any]], *, where: str = "gate_policy") -> list[Gate]:
    gates: list[Gate] = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str):
            raise ConfigError(
                f"{where}[{i}]: a gate is {{'type': <name>, ...params}}", field=f"{where}[{i}]"
            )
        params = {k: v for k, v in spec.items() if k != "type"}
        factory: GateFactory = GATES.load(spec["type"], setting=f"{where}[{i}]")
        try:
            gates.append(factory(**params))
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"{where}[{i}]: gate {spec['type']!r}: {exc}", field=f"{where}[{i}]"
            ) from None
    return gates


def evaluate_all(gates: list[Gate], context: GateContext) -> list[GateResult]:
    results = []
    for gate in gates:
        try:
            results.append(gate.evaluate(context))
        except Exception as exc:
            results.append(
                GateResult(
                    getattr(gate, "name", type(gate).__name__),
                    False,
                    f"gate raised {type(exc).__name__}: {exc}",
                    {"error": type(exc).__name__},
                )
            )
    return results

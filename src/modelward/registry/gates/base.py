"""The gate port: code that says whether a version may enter a stage, with evidence.

A gate is any object with a ``name`` and ``evaluate(context) -> GateResult``. Built-ins
live in :mod:`modelward.registry.gates.builtin`; custom gates are registered in process
with :func:`register_gate` or shipped by a package under the ``modelward.gates`` entry
point group (``mygate = mypkg.gates:factory``); ``factory(**params)`` returns the gate.
A model's gate policy names gates as ``{"type": "<name>", **params}``.

A gate that raises counts as failed (fail closed), its error kept as evidence.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelward.errors import ConfigError

if TYPE_CHECKING:
    from modelward.registry.versions import ModelVersion

__all__ = [
    "Gate",
    "GateContext",
    "GateFactory",
    "GateResult",
    "build_gates",
    "evaluate_all",
    "register_gate",
]

ENTRY_POINT_GROUP = "modelward.gates"


@dataclass(frozen=True)
class GateContext:
    candidate: ModelVersion
    #: the model's current Production version, if any (never the candidate itself)
    production: ModelVersion | None
    target_stage: str


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
_registered: dict[str, GateFactory] = {}
# gates other contexts own, imported only when a policy names them
_OTHER_CONTEXTS = {"feature_skew": ("modelward.features.gates", "feature_skew")}


def register_gate(type_name: str, factory: GateFactory) -> None:
    """Make ``{"type": type_name, ...}`` usable in gate policies in this process."""
    _registered[type_name] = factory


def _factory(type_name: str) -> GateFactory | None:
    from modelward.registry.gates.builtin import BUILTINS

    if type_name in _registered:
        return _registered[type_name]
    if type_name in BUILTINS:
        return BUILTINS[type_name]
    if type_name in _OTHER_CONTEXTS:
        module, attr = _OTHER_CONTEXTS[type_name]
        found: GateFactory = getattr(importlib.import_module(module), attr)
        return found
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == type_name:
            loaded: GateFactory = ep.load()
            return loaded
    return None


def build_gates(specs: Sequence[Mapping[str, Any]], *, where: str = "gate_policy") -> list[Gate]:
    gates: list[Gate] = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str):
            raise ConfigError(
                f"{where}[{i}]: a gate is {{'type': <name>, ...params}}", field=f"{where}[{i}]"
            )
        params = {k: v for k, v in spec.items() if k != "type"}
        factory = _factory(spec["type"])
        if factory is None:
            raise ConfigError(
                f"{where}[{i}].type: unknown gate {spec['type']!r}", field=f"{where}[{i}].type"
            )
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

"""The ``readiness`` promotion gate: the readiness report's answers as a stage policy.

``{"type": "readiness"}`` passes when every one of the seven questions is answered
``yes`` for the candidate (the default, meant for Production); ``require`` names the ones
a stage needs (``{"type": "readiness", "require": ["reproducible", "owner"]}`` for
Staging), ``endpoint`` the endpoint to judge alerts, KPIs and load on (default: the first
endpoint serving the model). The gate reads the session of the transition and writes
nothing; its evidence is the report.

It reaches the registry's gate family through the ``modelward.gates`` entry point, the
way a third-party gate would, since the registry sits below the contexts it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelward.readiness.questions import QUESTIONS, readiness

if TYPE_CHECKING:
    from modelward.registry import GateContext, GateResult

__all__ = ["ReadinessGate", "readiness_gate"]


@dataclass(frozen=True)
class ReadinessGate:
    require: tuple[str, ...] = tuple(QUESTIONS)
    endpoint: str | None = None
    name: str = "readiness"

    def evaluate(self, context: GateContext) -> GateResult:
        from modelward.registry import GateResult

        if context.session is None:
            return GateResult(self.name, False, "readiness needs the session of the transition")
        report = readiness(context.session, context.candidate.ref, endpoint=self.endpoint)
        short = [a for a in report.answers if a.question in self.require and a.answer != "yes"]
        message = (
            f"{len(self.require)} readiness question(s) answered yes"
            if not short
            else "not ready: " + "; ".join(f"{a.question} {a.answer} ({a.evidence})" for a in short)
        )
        return GateResult(self.name, not short, message, report.to_dict())


def readiness_gate(**params: Any) -> ReadinessGate:
    """Gate factory: ``require`` (question keys; default all seven), ``endpoint``."""
    require = params.pop("require", None)
    endpoint = params.pop("endpoint", None)
    if params:
        raise ValueError(
            f"unknown parameter(s) {', '.join(sorted(params))}; known: require, endpoint"
        )
    if require is None:
        keys: Sequence[str] = tuple(QUESTIONS)
    elif isinstance(require, list | tuple) and all(isinstance(k, str) for k in require):
        keys = tuple(require)
    else:
        raise ValueError("require: a list of question keys")
    unknown = [k for k in keys if k not in QUESTIONS]
    if unknown:
        raise ValueError(
            f"require: unknown question(s) {', '.join(unknown)}; known: {', '.join(QUESTIONS)}"
        )
    if endpoint is not None and not isinstance(endpoint, str):
        raise ValueError("endpoint: an endpoint name")
    return ReadinessGate(tuple(keys), endpoint)

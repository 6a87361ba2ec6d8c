"""Business gates: fairness across a sensitive attribute, and inputs a model must not use.

``{"type": "fairness", "attribute": "region", "min_selection_rate_ratio": 0.8,
"max_true_positive_rate_difference": 0.1}`` judges the parity the evaluation recorded in the
version's lineage (``lineage["fairness"]``, written by the pipeline template's evaluation),
over all rows and, with ``per_segment`` (default), inside every segment.

``{"type": "forbidden_inputs", "features": ["gender", "email"]}`` refuses a version whose
inputs name one of them: the inputs are read from the model's MLflow signature and from
its lineage (the feature columns the pipeline trained on). A version whose inputs are not
known at all fails too (closed): a protected attribute cannot be ruled out.

:func:`parity_checks` is the one rule both the gate and the pipeline's acceptance policy
apply to a fairness report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelward.registry.gates.base import GateContext, GateResult

__all__ = ["FairnessParity", "ForbiddenInputs", "ParityCheck", "model_inputs", "parity_checks"]


@dataclass(frozen=True)
class ParityCheck:
    name: str
    passed: bool
    observed: float | None
    threshold: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "observed": self.observed,
            "threshold": self.threshold,
            "message": self.message,
        }


def _limit(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{name}: must be a number between 0 and 1")
    return float(value)


def parity_checks(
    attribute: str,
    report: Mapping[str, Any],
    *,
    min_selection_rate_ratio: float | None = None,
    max_true_positive_rate_difference: float | None = None,
    per_segment: bool = True,
) -> list[ParityCheck]:
    """Judge one attribute's fairness report (``{"overall": ..., "segments": {...}}``).

    Over all rows a parity that cannot be computed (fewer than two groups large enough)
    fails, closed; inside a small segment it is reported by the evaluation, not judged.
    """
    scopes: list[tuple[str, Mapping[str, Any], bool]] = [("", report.get("overall") or {}, True)]
    if per_segment:
        scopes += [(f" in {k}", v, False) for k, v in (report.get("segments") or {}).items()]
    out: list[ParityCheck] = []
    for where, result, required in scopes:
        for key, limit, label, at_least in (
            ("selection_rate_ratio", min_selection_rate_ratio, "selection-rate ratio", True),
            (
                "true_positive_rate_difference",
                max_true_positive_rate_difference,
                "true-positive-rate difference",
                False,
            ),
        ):
            if limit is None:
                continue
            value = result.get(key)
            name = f"fairness {attribute}{where}: {label}"
            if value is None:
                if required:
                    out.append(
                        ParityCheck(
                            name,
                            False,
                            None,
                            limit,
                            f"{label} across {attribute} cannot be computed (fewer than two "
                            "groups with enough rows)",
                        )
                    )
                continue
            passed = value >= limit if at_least else value <= limit
            need = f">= {limit:g}" if at_least else f"<= {limit:g}"
            out.append(
                ParityCheck(
                    name,
                    passed,
                    float(value),
                    limit,
                    f"{label} across {attribute}{where} {value:.3f} (need {need})",
                )
            )
    return out


@dataclass(frozen=True)
class FairnessParity:
    attribute: str
    min_selection_rate_ratio: float | None = None
    max_true_positive_rate_difference: float | None = None
    per_segment: bool = True
    name: str = "fairness"

    def __post_init__(self) -> None:
        if not isinstance(self.attribute, str) or not self.attribute:
            raise ValueError("attribute: the sensitive attribute to judge is required")
        ratio = _limit("min_selection_rate_ratio", self.min_selection_rate_ratio)
        diff = _limit("max_true_positive_rate_difference", self.max_true_positive_rate_difference)
        if ratio is None and diff is None:
            raise ValueError(
                "give min_selection_rate_ratio and/or max_true_positive_rate_difference"
            )

    def evaluate(self, context: GateContext) -> GateResult:
        report = (context.candidate.lineage.get("fairness") or {}).get(self.attribute)
        if not report:
            return GateResult(
                self.name,
                False,
                f"no fairness evaluation across {self.attribute!r} is recorded for "
                f"{context.candidate.ref} (declare it as a sensitive attribute of the pipeline)",
                {"attribute": self.attribute},
            )
        checks = parity_checks(
            self.attribute,
            report,
            min_selection_rate_ratio=self.min_selection_rate_ratio,
            max_true_positive_rate_difference=self.max_true_positive_rate_difference,
            per_segment=self.per_segment,
        )
        failing = [c for c in checks if not c.passed]
        evidence = {"attribute": self.attribute, "checks": [c.to_dict() for c in checks]}
        if failing:
            shown = "; ".join(c.message for c in failing[:3])
            more = f" (and {len(failing) - 3} more)" if len(failing) > 3 else ""
            return GateResult(self.name, False, shown + more, evidence)
        return GateResult(
            self.name,
            True,
            f"parity across {self.attribute} within thresholds in {len(checks)} check(s)",
            evidence,
        )


def model_inputs(lineage: Mapping[str, Any]) -> list[str] | None:
    """The input names a version's model reads, from its signature and its lineage.

    ``None`` when neither tells (a plain-MLflow model logged without a signature).
    """
    signature = (lineage.get("model_artifact") or {}).get("signature_inputs")
    recorded = lineage.get("model_inputs")
    if signature is None and recorded is None:
        return None
    names: list[str] = []
    for source in (signature or [], recorded or []):
        names.extend(str(n) for n in source if str(n) not in names)
    return names


@dataclass(frozen=True)
class ForbiddenInputs:
    features: Sequence[str] = field(default_factory=tuple)
    name: str = "forbidden_inputs"

    def __post_init__(self) -> None:
        if (
            isinstance(self.features, str)
            or not self.features
            or not all(isinstance(f, str) and f for f in self.features)
        ):
            raise ValueError("features: a list of input names the model must not use")

    def evaluate(self, context: GateContext) -> GateResult:
        inputs = model_inputs(context.candidate.lineage)
        forbidden = list(self.features)
        if inputs is None:
            return GateResult(
                self.name,
                False,
                f"the inputs of {context.candidate.ref} are unknown (no MLflow signature, no "
                f"recorded feature columns), so {', '.join(forbidden)} cannot be ruled out",
                {"forbidden": forbidden, "inputs": None},
            )
        lowered = {i.lower(): i for i in inputs}
        used = [lowered[f.lower()] for f in forbidden if f.lower() in lowered]
        evidence = {"forbidden": forbidden, "inputs": inputs, "used": used}
        if used:
            return GateResult(
                self.name,
                False,
                f"the model reads forbidden input(s) {', '.join(used)}",
                evidence,
            )
        return GateResult(
            self.name,
            True,
            f"none of {', '.join(forbidden)} among the model's {len(inputs)} input(s)",
            evidence,
        )

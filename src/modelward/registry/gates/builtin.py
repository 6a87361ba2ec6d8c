"""Built-in gates: lineage complete, metric above a threshold, metric beats Production."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelward.registry.gates.base import GateContext, GateResult

__all__ = ["LineageComplete", "MetricAbove", "MetricBeatsProduction"]


def _metric(lineage: Mapping[str, Any], metric: str) -> float | None:
    value = ((lineage.get("metrics") or {}).get("overall") or {}).get(metric)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


@dataclass(frozen=True)
class LineageComplete:
    name: str = "lineage_complete"

    def evaluate(self, context: GateContext) -> GateResult:
        missing = context.candidate.lineage_missing
        if missing:
            return GateResult(
                self.name,
                False,
                f"lineage incomplete: missing {', '.join(missing)}",
                {"missing": missing},
            )
        return GateResult(self.name, True, "lineage complete", {"missing": []})


@dataclass(frozen=True)
class MetricAbove:
    metric: str
    threshold: float
    name: str = "metric_above"

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError("metric: a metric name is required")
        float(self.threshold)

    def evaluate(self, context: GateContext) -> GateResult:
        value = _metric(context.candidate.lineage, self.metric)
        evidence = {"metric": self.metric, "value": value, "threshold": float(self.threshold)}
        if value is None:
            return GateResult(
                self.name, False, f"metric {self.metric!r} was not recorded", evidence
            )
        passed = value > float(self.threshold)
        verb = "above" if passed else "not above"
        return GateResult(
            self.name,
            passed,
            f"{self.metric} = {value:g} is {verb} {float(self.threshold):g}",
            evidence,
        )


@dataclass(frozen=True)
class MetricBeatsProduction:
    """The candidate beats the Production version by at least ``delta`` on the same data."""

    metric: str
    delta: float = 0.0
    higher_is_better: bool = True
    name: str = "metric_beats_production"

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError("metric: a metric name is required")
        if float(self.delta) < 0:
            raise ValueError("delta: must be >= 0")

    def evaluate(self, context: GateContext) -> GateResult:
        cand = context.candidate
        prod = context.production
        evidence: dict[str, Any] = {
            "metric": self.metric,
            "delta": float(self.delta),
            "higher_is_better": self.higher_is_better,
            "candidate": _metric(cand.lineage, self.metric),
        }
        if prod is None:
            return GateResult(
                self.name,
                True,
                "no Production version to compare against",
                evidence | {"production": None},
            )
        evidence |= {
            "production_version": prod.version,
            "production": _metric(prod.lineage, self.metric),
        }
        cand_eval = (cand.lineage.get("evaluation") or {}).get("content_hash")
        prod_eval = (prod.lineage.get("evaluation") or {}).get("content_hash")
        evidence |= {"candidate_evaluation": cand_eval, "production_evaluation": prod_eval}
        if evidence["candidate"] is None or evidence["production"] is None:
            return GateResult(
                self.name,
                False,
                f"metric {self.metric!r} missing on the candidate or on "
                f"Production version {prod.version}",
                evidence,
            )
        if not cand_eval or cand_eval != prod_eval:
            return GateResult(
                self.name,
                False,
                "not evaluated on the same data as Production version "
                f"{prod.version} (evaluation snapshot hashes differ or are "
                "missing)",
                evidence,
            )
        gain = evidence["candidate"] - evidence["production"]
        if not self.higher_is_better:
            gain = -gain
        evidence["improvement"] = gain
        passed = gain >= float(self.delta)
        return GateResult(
            self.name,
            passed,
            f"{self.metric}: {evidence['candidate']:g} vs Production v{prod.version} "
            f"{evidence['production']:g} (improvement {gain:+g}, needed {float(self.delta):+g})",
            evidence,
        )

"""A promotion gate on training-serving skew, for the registry's gate policies.

``{"type": "feature_skew", "view": "driver_stats", "sample": 500, "threshold": 0.01}``
fails when any feature of the view differs online and offline for more than
``threshold`` of ``sample`` entities. The registry maps the type to :func:`feature_skew`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelward.registry.gates.base import GateContext, GateResult

__all__ = ["FeatureSkewGate", "feature_skew"]


@dataclass(frozen=True)
class FeatureSkewGate:
    view: str
    sample: int = 100
    threshold: float = 0.0
    name: str = "feature_skew"

    def evaluate(self, context: GateContext) -> GateResult:
        # imported here: the registry depends on features, never the other way at import time
        from modelward.features.api import check_skew
        from modelward.registry.gates.base import GateResult

        report = check_skew(self.view, sample=self.sample, threshold=self.threshold)
        rates = ", ".join(f"{k} {v:.2%}" for k, v in report.mismatch_rate.items())
        verdict = "within" if report.passed else "above"
        return GateResult(
            self.name,
            report.passed,
            f"{self.view}: skew {verdict} {self.threshold:.2%} over {report.sampled} "
            f"entities ({rates})",
            report.to_dict(),
        )


def feature_skew(**params: Any) -> FeatureSkewGate:
    """Gate factory: ``view`` (required), ``sample``, ``threshold``."""
    if not isinstance(params.get("view"), str):
        raise ValueError("view: the feature view to check is required")
    return FeatureSkewGate(**params)

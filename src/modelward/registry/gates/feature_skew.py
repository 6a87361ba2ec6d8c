"""A promotion gate on training-serving skew, built on the features context's public check.

``{"type": "feature_skew", "view": "driver_stats", "sample": 500, "threshold": 0.01}``
fails when any feature of the view differs online and offline for more than
``threshold`` of ``sample`` entities. It checks the workspace of the session the
transition was asked in (``context.session``), so a promotion through the REST server
reads the server's workspace, whatever folder the server was started from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelward.registry.gates.base import GateContext, GateResult

__all__ = ["FeatureSkewGate", "feature_skew"]


@dataclass(frozen=True)
class FeatureSkewGate:
    view: str
    sample: int = 100
    threshold: float = 0.0
    name: str = "feature_skew"

    def evaluate(self, context: GateContext) -> GateResult:
        if context.session is None:
            return GateResult(
                self.name, False, "feature_skew needs the session of the transition", {}
            )
        from modelward.features import check_skew

        report = check_skew(
            self.view, sample=self.sample, threshold=self.threshold, session=context.session
        )
        rates = ", ".join(f"{k} {v:.2%}" for k, v in report.mismatch_rate.items())
        verdict = "within" if report.passed else "above"
        return GateResult(
            self.name,
            report.passed,
            f"{self.view}: skew {verdict} {self.threshold:.2%} over {report.sampled} "
            f"entities ({rates})",
            report.to_dict() | {"workspace": str(context.session.workspace.root)},
        )


def feature_skew(**params: Any) -> FeatureSkewGate:
    """Gate factory: ``view`` (required), ``sample``, ``threshold``."""
    if not isinstance(params.get("view"), str):
        raise ValueError("view: the feature view to check is required")
    return FeatureSkewGate(**params)

"""A skew check kept as evidence: what the readiness report's "features consistent" reads.

The features context runs the check (it sits below the registry, so it records
nothing); this records its verdict as the view's ``skew_check`` evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelward.features import SkewReport
    from modelward.registry import Evidence
    from modelward.session import Session

__all__ = ["checked_skew"]


def checked_skew(
    session: Session,
    view: str,
    *,
    sample: int = 100,
    threshold: float | None = None,
    catalog: Any = None,
) -> tuple[SkewReport, Evidence]:
    """Run ``features.check_skew`` on ``view`` and record the report as evidence."""
    from modelward.features import check_skew
    from modelward.registry import record_evidence

    report = check_skew(view, sample=sample, threshold=threshold, session=session, catalog=catalog)
    rates = ", ".join(f"{k} {v:.2%}" for k, v in report.mismatch_rate.items())
    evidence = record_evidence(
        session,
        "skew_check",
        f"view:{view}",
        summary=f"{view}: {'passed' if report.passed else 'failed'} over {report.sampled} "
        f"entities, threshold {report.threshold:.2%} ({rates})",
        # the rates only: the report's examples are entity keys and feature values, which
        # may be personal data and have no place in a long-lived record
        detail={k: v for k, v in report.to_dict().items() if k != "examples"},
        passed=report.passed,
    )
    return report, evidence

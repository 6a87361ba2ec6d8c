"""Promotion from live evidence: what a release measured decides whether a version moves.

Two uses of one verdict, the judge's analysis of the release's current step window read
from the prediction log now (:func:`live_verdict`):

- ``modelward rollout promote ENDPOINT --ci``: promotes the release when the verdict is
  ``pass`` and exits 0; otherwise changes nothing and exits 1, the metric table printed
  either way (a CI job's gate).
- the ``release_analysis`` stage-policy gate (registered under the ``modelward.gates``
  entry point group), for ``modelward promote NAME@V --to Production``::

    {"type": "release_analysis", "endpoint": "churn",
     "max_p95_ms": 50, "max_disagreement": 0.02}

  It fails unless the newest release of this version on ``endpoint`` is live or
  promoted and its analysis passes; ``max_p95_ms`` also bounds the candidate's p95
  latency in that window, and ``max_disagreement`` (shadow releases) the share of
  mirrored requests on which it decided differently (the shadow report's rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelward.errors import NotFound
from modelward.registry import GateContext, GateResult
from modelward.rollout.analysis import Analysis
from modelward.rollout.changes import promote
from modelward.rollout.releases import Release, current_release, list_releases

if TYPE_CHECKING:
    from modelward.monitoring import PredictionSink
    from modelward.security import Principal
    from modelward.session import Session

__all__ = [
    "EvidenceVerdict",
    "ReleaseAnalysisGate",
    "live_verdict",
    "promote_on_evidence",
    "release_analysis",
]

#: release states whose evidence can support a promotion
_EVIDENT = frozenset({"running", "paused", "promoted"})


@dataclass(frozen=True)
class EvidenceVerdict:
    release: Release
    analysis: Analysis
    #: the release after the promotion, or None when the evidence did not allow it
    promoted: Release | None = None

    @property
    def passed(self) -> bool:
        return self.analysis.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.release.endpoint,
            "release": self.release.id,
            "candidate": self.release.candidate,
            "state": (self.promoted or self.release).state,
            "passed": self.passed,
            "promoted": self.promoted is not None,
            "analysis": self.analysis.to_dict(),
        }


def live_verdict(release: Release, sink: PredictionSink, now: datetime | None = None) -> Analysis:
    """The judge's analysis of the release's current step window, read now."""
    from modelward.rollout.controller import analyse

    return analyse(release, sink, now or datetime.now(UTC))


def promote_on_evidence(
    session: Session,
    principal: Principal,
    endpoint: str,
    sink: PredictionSink,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> EvidenceVerdict:
    """Promote the endpoint's live release if its analysis passes now; else change nothing.

    The promotion is made on the release version the analysis read (an operator's change
    in between wins: :class:`~modelward.errors.Conflict`), with the analysis as evidence.
    """
    release = current_release(session, endpoint)
    analysis = live_verdict(release, sink, now)
    if analysis.verdict != "pass" or not release.live:
        return EvidenceVerdict(release, analysis)
    done = promote(
        session,
        principal,
        endpoint,
        expected_version=release.version,
        evidence={"analysis": analysis.to_dict(), "gate": "rollout promote --ci"},
        reason=reason or f"analysis passed (score {analysis.score})",
        now=now,
    )
    return EvidenceVerdict(release, analysis, done)


@dataclass(frozen=True)
class ReleaseAnalysisGate:
    endpoint: str
    max_p95_ms: float | None = None
    max_disagreement: float | None = None
    name: str = "release_analysis"

    def evaluate(self, context: GateContext) -> GateResult:
        def result(passed: bool, message: str, **evidence: Any) -> GateResult:
            return GateResult(self.name, passed, message, {"endpoint": self.endpoint, **evidence})

        session = context.session
        if session is None:
            return result(False, "release_analysis needs the session of the transition")
        ref = context.candidate.ref
        try:
            mine = [r for r in list_releases(session, self.endpoint) if r.candidate == ref]
        except NotFound:
            mine = []
        if not mine:
            return result(False, f"{ref} has had no release on {self.endpoint}")
        release = max(mine, key=lambda r: r.seq)
        if release.state not in _EVIDENT:
            return result(
                False, f"release {release.id} of {ref} was {release.state}", release=release.id
            )
        from modelward.monitoring import open_workspace_log

        sink = open_workspace_log(session)
        try:
            analysis = live_verdict(release, sink)
            problems = [] if analysis.verdict == "pass" else [f"analysis {analysis.verdict}"]
            evidence: dict[str, Any] = {"release": release.id, "analysis": analysis.to_dict()}
            p95 = analysis.candidate.get("latency_p95_ms")
            if self.max_p95_ms is not None and (p95 is None or p95 > self.max_p95_ms):
                shown = "unknown" if p95 is None else f"{p95:.1f} ms"
                problems.append(f"p95 latency {shown} above {self.max_p95_ms:g} ms")
            if self.max_disagreement is not None:
                from modelward.rollout.shadow import shadow_report

                report = shadow_report(session, sink, self.endpoint, release_id=release.id)
                evidence["disagreement_rate"] = report.rate
                if report.rate is None or report.rate > self.max_disagreement:
                    shown = "unknown" if report.rate is None else f"{report.rate:.2%}"
                    problems.append(
                        f"shadow disagreement {shown} above {self.max_disagreement:.2%}"
                    )
        finally:
            sink.close()
        if problems:
            return result(False, f"{release.id} of {ref}: " + "; ".join(problems), **evidence)
        return result(
            True, f"{release.id} of {ref}: analysis passed (score {analysis.score})", **evidence
        )


def release_analysis(**params: Any) -> ReleaseAnalysisGate:
    """Gate factory: ``endpoint`` (required), ``max_p95_ms``, ``max_disagreement``."""
    if not isinstance(params.get("endpoint"), str) or not params["endpoint"]:
        raise ValueError("endpoint: the endpoint whose release is the evidence is required")
    for bound in ("max_p95_ms", "max_disagreement"):
        value = params.get(bound)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 0
        ):
            raise ValueError(f"{bound}: expected a number >= 0, got {str(value)[:40]!r}")
    return ReleaseAnalysisGate(**params)

"""The judge: the candidate against the baseline, metric by metric, on the same window.

Both arms come from the prediction log rows of one release in one window (the current
step, since it started), so traffic mix and time of day are the same for both.

==================  ========================================  ===========================
metric              test (one-sided: "candidate is worse")    tolerance (policy)
==================  ========================================  ===========================
``error_rate``      two-proportion z-test, H0: pc - pb <= tol  absolute rate
``fallback_rate``   the same, on degraded answers              absolute rate
``latency``         Mann-Whitney U, H0: candidate <= base+tol  milliseconds
``score``           Mann-Whitney U, two-sided, and the effect  ``|P(c > b) - 0.5|``
                    size ``|U/(nc*nb) - 0.5| > tol``
==================  ========================================  ===========================

A metric is ``inconclusive`` while either arm has fewer than ``min_sample`` rows in the
window (a distribution also needs half as many values: answered rows, not degraded ones
for scores). The
p-values of the metrics that were tested are Holm-adjusted, so the chance that an
analysis fails a candidate no worse than its baseline is at most ``alpha``, whatever the
number of metrics. ``realised_performance`` and ``kpi`` need labels and KPIs, which the
monitoring context builds: until then they are ``unavailable`` and never count as a pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from modelward.monitoring import PredictionRecord
from modelward.rollout.policy import LABEL_METRICS, MetricRule, RolloutPolicy

__all__ = ["Analysis", "ArmSample", "MetricVerdict", "arm_samples", "holm", "judge"]

Verdict = Literal["pass", "fail", "inconclusive", "unavailable"]


@dataclass
class ArmSample:
    """What one arm (baseline or candidate) did in the window."""

    total: int = 0
    errors: int = 0
    fallbacks: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, records: Iterable[PredictionRecord]) -> ArmSample:
        arm = cls()
        for rec in records:
            arm.total += 1
            if rec.error:
                arm.errors += 1
                continue
            if rec.degraded:
                arm.fallbacks += 1
            arm.latencies_ms.append(float(rec.latency_ms))
            score = _score(rec.prediction)
            if score is not None and not rec.degraded:
                arm.scores.append(score)
        return arm

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ms)
        return {
            "rows": self.total,
            "error_rate": self.errors / self.total if self.total else None,
            "fallback_rate": self.fallbacks / self.total if self.total else None,
            "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
            "latency_p95_ms": float(np.percentile(lat, 95)) if lat.size else None,
            "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
            "score_mean": float(np.mean(self.scores)) if self.scores else None,
        }


def _score(prediction: Any) -> float | None:
    """A numeric prediction, or a one-element list of one (a single-row answer)."""
    if isinstance(prediction, list) and len(prediction) == 1:
        prediction = prediction[0]
    if isinstance(prediction, bool) or not isinstance(prediction, int | float):
        return None
    value = float(prediction)
    return value if math.isfinite(value) else None


def arm_samples(
    records: Iterable[PredictionRecord],
    release_id: str,
    *,
    since_us: int = 0,
    until_us: int | None = None,
    candidate_role: str = "candidate",
) -> tuple[ArmSample, ArmSample]:
    """(baseline, candidate) from the log rows of one release in ``[since_us, until_us)``."""
    baseline: list[PredictionRecord] = []
    candidate: list[PredictionRecord] = []
    for rec in records:
        if rec.release_id != release_id or rec.at_us < since_us:
            continue
        if until_us is not None and rec.at_us >= until_us:
            continue
        if rec.role == "primary":
            baseline.append(rec)
        elif rec.role == candidate_role:
            candidate.append(rec)
    return ArmSample.of(baseline), ArmSample.of(candidate)


@dataclass(frozen=True)
class MetricVerdict:
    metric: str
    verdict: Verdict
    reason: str
    p_value: float | None = None
    adjusted_p: float | None = None
    baseline: float | None = None
    candidate: float | None = None
    n_baseline: int = 0
    n_candidate: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "verdict": self.verdict,
            "reason": self.reason,
            "p_value": self.p_value,
            "adjusted_p": self.adjusted_p,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "n_baseline": self.n_baseline,
            "n_candidate": self.n_candidate,
        }


@dataclass(frozen=True)
class Analysis:
    """Every metric's verdict, the overall verdict and the step score (0-100)."""

    verdict: Verdict
    score: float | None
    metrics: tuple[MetricVerdict, ...]
    baseline: dict[str, Any] = field(default_factory=dict)
    candidate: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "score": self.score,
            "metrics": [m.to_dict() for m in self.metrics],
            "baseline": self.baseline,
            "candidate": self.candidate,
        }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class _Tested:
    """A metric with enough data: its p-value and what would make it fail."""

    rule: MetricRule
    p_value: float
    baseline: float
    candidate: float
    n_baseline: int
    n_candidate: int
    #: the effect is beyond the tolerance (for ``score``; rates and latency build the
    #: tolerance into the null hypothesis instead)
    material: bool = True


def _rate_test(bad_b: int, n_b: int, bad_c: int, n_c: int, tolerance: float) -> float:
    """One-sided p of H0 ``pc - pb <= tolerance`` (normal approximation, unpooled)."""
    pb, pc = bad_b / n_b, bad_c / n_c
    se = math.sqrt(pb * (1 - pb) / n_b + pc * (1 - pc) / n_c)
    excess = pc - pb - tolerance
    if se == 0.0:
        return 0.0 if excess > 0 else 1.0
    return float(stats.norm.sf(excess / se))


def _test(rule: MetricRule, base: ArmSample, cand: ArmSample, min_sample: int) -> _Tested | str:
    metric, tol = rule.metric, rule.allowed
    if metric in ("error_rate", "fallback_rate"):
        if base.total < min_sample or cand.total < min_sample:
            return f"{base.total} baseline and {cand.total} candidate rows; need {min_sample} each"
        bad_b = base.errors if metric == "error_rate" else base.fallbacks
        bad_c = cand.errors if metric == "error_rate" else cand.fallbacks
        p = _rate_test(bad_b, base.total, bad_c, cand.total, tol)
        return _Tested(rule, p, bad_b / base.total, bad_c / cand.total, base.total, cand.total)
    if base.total < min_sample or cand.total < min_sample:
        return f"{base.total} baseline and {cand.total} candidate rows; need {min_sample} each"
    values_b, values_c = (
        (base.latencies_ms, cand.latencies_ms)
        if metric == "latency"
        else (base.scores, cand.scores)
    )
    # errored (and, for scores, degraded) rows carry no value; the rate metrics judge those
    need = max(10, min_sample // 2)
    if len(values_b) < need or len(values_c) < need:
        return (
            f"{len(values_b)} baseline and {len(values_c)} candidate {metric} values; "
            f"need {need} each"
        )
    b, c = np.asarray(values_b), np.asarray(values_c)
    if metric == "latency":
        result = stats.mannwhitneyu(c, b + tol, alternative="greater")
        return _Tested(
            rule, float(result.pvalue), float(np.median(b)), float(np.median(c)), b.size, c.size
        )
    result = stats.mannwhitneyu(c, b, alternative="two-sided")
    effect = float(result.statistic) / (b.size * c.size) - 0.5
    return _Tested(
        rule,
        float(result.pvalue),
        float(np.mean(b)),
        float(np.mean(c)),
        b.size,
        c.size,
        material=abs(effect) > tol,
    )


def judge(baseline: ArmSample, candidate: ArmSample, policy: RolloutPolicy) -> Analysis:
    """Compare the arms metric by metric; Holm-correct the tests that ran."""
    tested: list[_Tested] = []
    verdicts: dict[str, MetricVerdict] = {}
    for rule in policy.metrics:
        if rule.metric in LABEL_METRICS:
            verdicts[rule.metric] = MetricVerdict(
                rule.metric, "unavailable", "labels and KPIs are not in the prediction log yet"
            )
            continue
        outcome = _test(rule, baseline, candidate, policy.min_sample)
        if isinstance(outcome, str):
            verdicts[rule.metric] = MetricVerdict(rule.metric, "inconclusive", outcome)
        else:
            tested.append(outcome)
    for t, adjusted in zip(tested, holm([t.p_value for t in tested]), strict=True):
        failed = adjusted < policy.alpha and t.material
        reason = (
            f"candidate worse than baseline beyond {t.rule.allowed} (Holm p={adjusted:.3g})"
            if failed
            else f"no material regression (Holm p={adjusted:.3g} at alpha {policy.alpha})"
        )
        verdicts[t.rule.metric] = MetricVerdict(
            t.rule.metric,
            "fail" if failed else "pass",
            reason,
            t.p_value,
            adjusted,
            t.baseline,
            t.candidate,
            t.n_baseline,
            t.n_candidate,
        )
    ordered = tuple(verdicts[r.metric] for r in policy.metrics)
    judged = [v for v in ordered if v.verdict != "unavailable"]
    overall: Verdict
    if any(v.verdict == "fail" for v in judged):
        overall = "fail"
    elif not judged or any(v.verdict == "inconclusive" for v in judged):
        overall = "inconclusive"
    else:
        overall = "pass"
    passed = sum(v.verdict == "pass" for v in judged)
    return Analysis(
        overall,
        round(100.0 * passed / len(judged), 1) if judged else None,
        ordered,
        baseline.summary(),
        candidate.summary(),
    )

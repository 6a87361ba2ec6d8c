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
``latency_p95``,    bootstrap of each arm's quantile (exact:   milliseconds added to the
``latency_p99``     order statistics), H0: Qc - Qb <= tol      quantile
``segment_score``   the ``score`` test for each value of an    as ``score``
                    input field (``segment``), each value one
                    member of the Holm family
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
import pyarrow as pa
import pyarrow.compute as pc
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
    #: input field -> its value (as text) on each scored row, aligned with ``scores``
    segments: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Iterable[PredictionRecord], segments: Sequence[str] = ()) -> ArmSample:
        arm = cls(segments={name: [] for name in segments})
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
                for name, values in arm.segments.items():
                    values.append(str(rec.inputs.get(name)))
        return arm

    @classmethod
    def of_window(cls, window: pa.Table, segments: Sequence[str] = ()) -> ArmSample:
        """The same from a prediction-log window (monitoring's Arrow shape), column-wise."""
        arm = cls(total=window.num_rows, segments={name: [] for name in segments})
        if not window.num_rows:
            return arm
        failed = pc.not_equal(window.column("error"), "")
        arm.errors = int(pc.sum(failed).as_py() or 0)
        answered = window.filter(pc.invert(failed))
        degraded = answered.column("degraded")
        arm.fallbacks = int(pc.sum(degraded).as_py() or 0)
        arm.latencies_ms = [float(v) for v in answered.column("latency_ms").to_pylist()]
        scored = answered.filter(pc.invert(degraded))
        numbers = [_score(value) for value in scored.column("prediction").to_pylist()]
        keep = [i for i, number in enumerate(numbers) if number is not None]
        arm.scores = [number for number in numbers if number is not None]
        if segments:
            inputs = (
                scored.column("inputs").to_pylist()
                if "inputs" in scored.column_names
                else [{}] * scored.num_rows
            )
            for name in segments:
                arm.segments[name] = [str((inputs[i] or {}).get(name)) for i in keep]
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


def window_samples(
    window: pa.Table,
    release_id: str,
    *,
    candidate_role: str = "candidate",
    segments: Sequence[str] = (),
) -> tuple[ArmSample, ArmSample]:
    """(baseline, candidate) from a window of the endpoint's log: this release's rows only."""
    mine = window.filter(pc.equal(window.column("release_id"), release_id))
    role = mine.column("role")
    return (
        ArmSample.of_window(mine.filter(pc.equal(role, "primary")), segments),
        ArmSample.of_window(mine.filter(pc.equal(role, candidate_role)), segments),
    )


def arm_samples(
    records: Iterable[PredictionRecord],
    release_id: str,
    *,
    since_us: int = 0,
    until_us: int | None = None,
    candidate_role: str = "candidate",
    segments: Sequence[str] = (),
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
    return ArmSample.of(baseline, segments), ArmSample.of(candidate, segments)


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
    #: ``segment_score``: the input field, and each of its values' test
    segment: str | None = None
    details: tuple[dict[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.metric}:{self.segment}" if self.segment else self.metric

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = (
            {"segment": self.segment, "segments": list(self.details)} if self.segment else {}
        )
        return {
            **extra,
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
    #: ``segment_score``: the segment value this test is about
    value: str | None = None


def _rate_test(bad_b: int, n_b: int, bad_c: int, n_c: int, tolerance: float) -> float:
    """One-sided p of H0 ``pc - pb <= tolerance`` (normal approximation, unpooled)."""
    pb, pc = bad_b / n_b, bad_c / n_c
    se = math.sqrt(pb * (1 - pb) / n_b + pc * (1 - pc) / n_c)
    excess = pc - pb - tolerance
    if se == 0.0:
        return 0.0 if excess > 0 else 1.0
    return float(stats.norm.sf(excess / se))


def _quantile_law(values: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The bootstrap distribution of an arm's ``q``-quantile, exactly rather than by
    resampling: with ``k = ceil(q n)``, the resampled quantile is the ``k``-th smallest of
    ``n`` draws, so ``P(Q* <= x_(j)) = P(Binomial(n, j/n) >= k)``. Returns the sorted
    values, each one's probability of being the resampled quantile, and the quantile."""
    ordered = np.sort(values)
    n = ordered.size
    k = max(1, math.ceil(q * n))
    at_most = stats.binom.sf(k - 1, n, np.arange(1, n + 1) / n)
    return ordered, np.diff(at_most, prepend=0.0), float(ordered[k - 1])


def _quantile_test(
    base: np.ndarray, cand: np.ndarray, q: float, tolerance: float
) -> tuple[float, float, float]:
    """One-sided bootstrap p of H0 ``Q_q(candidate) - Q_q(baseline) <= tolerance`` and the
    two quantiles: the share of the (exact, infinitely resampled) bootstrap distribution
    of the difference at or below the tolerance. The arms are independent samples, so
    the difference's law is the product of the two quantiles' laws."""
    b_values, b_law, qb = _quantile_law(base, q)
    c_values, c_law, qc = _quantile_law(cand, q)
    b_below = np.cumsum(b_law)  # P(Qb* <= b_values[i])
    # P(Qb* >= c - tol) for each candidate value c: 1 - P(Qb* < c - tol)
    strictly_below = np.searchsorted(b_values, c_values - tolerance, side="left")
    at_least = 1.0 - np.where(strictly_below > 0, b_below[strictly_below - 1], 0.0)
    p = float(np.clip(np.sum(c_law * at_least), 0.0, 1.0))
    return p, qb, qc


def _score_test(rule: MetricRule, b: np.ndarray, c: np.ndarray, value: str | None) -> _Tested:
    result = stats.mannwhitneyu(c, b, alternative="two-sided")
    effect = float(result.statistic) / (b.size * c.size) - 0.5
    return _Tested(
        rule,
        float(result.pvalue),
        float(np.mean(b)),
        float(np.mean(c)),
        b.size,
        c.size,
        material=abs(effect) > rule.allowed,
        value=value,
    )


def _segment_tests(
    rule: MetricRule, base: ArmSample, cand: ArmSample, need: int
) -> list[_Tested] | str:
    """The score test for each value of the rule's segment field with ``need`` scores in
    both arms; every one of them is a member of the analysis's Holm family."""
    name = rule.segment or ""
    by_b, by_c = _by_value(base, name), _by_value(cand, name)
    tested = [
        _score_test(rule, np.asarray(by_b[v]), np.asarray(by_c[v]), v)
        for v in sorted(set(by_b) & set(by_c))
        if len(by_b[v]) >= need and len(by_c[v]) >= need
    ]
    return tested or f"no value of {name} has {need} scores in each arm yet"


def _by_value(arm: ArmSample, name: str) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for value, score in zip(arm.segments.get(name, []), arm.scores, strict=False):
        groups.setdefault(value, []).append(score)
    return groups


def _test(
    rule: MetricRule, base: ArmSample, cand: ArmSample, min_sample: int
) -> list[_Tested] | str:
    metric, tol = rule.metric, rule.allowed
    if base.total < min_sample or cand.total < min_sample:
        return f"{base.total} baseline and {cand.total} candidate rows; need {min_sample} each"
    if metric in ("error_rate", "fallback_rate"):
        bad_b = base.errors if metric == "error_rate" else base.fallbacks
        bad_c = cand.errors if metric == "error_rate" else cand.fallbacks
        p = _rate_test(bad_b, base.total, bad_c, cand.total, tol)
        return [_Tested(rule, p, bad_b / base.total, bad_c / cand.total, base.total, cand.total)]
    values_b, values_c = (
        (base.latencies_ms, cand.latencies_ms)
        if metric.startswith("latency")
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
        return [
            _Tested(
                rule, float(result.pvalue), float(np.median(b)), float(np.median(c)), b.size, c.size
            )
        ]
    if metric in ("latency_p95", "latency_p99"):
        q = 0.95 if metric == "latency_p95" else 0.99
        p, qb, qc = _quantile_test(b, c, q, tol)
        return [_Tested(rule, p, qb, qc, b.size, c.size)]
    if metric == "segment_score":
        # each segment value needs a share of the arm's minimum, not all of it
        return _segment_tests(rule, base, cand, max(10, need // 5))
    return [_score_test(rule, b, c, None)]


def judge(baseline: ArmSample, candidate: ArmSample, policy: RolloutPolicy) -> Analysis:
    """Compare the arms metric by metric; Holm-correct every test that ran together (a
    ``segment_score`` metric adds one test per segment value)."""
    tested: list[_Tested] = []
    verdicts: dict[str, MetricVerdict] = {}
    for rule in policy.metrics:
        if rule.metric in LABEL_METRICS:
            verdicts[rule.label] = MetricVerdict(
                rule.metric, "unavailable", "labels and KPIs are not in the prediction log yet"
            )
            continue
        outcome = _test(rule, baseline, candidate, policy.min_sample)
        if isinstance(outcome, str):
            verdicts[rule.label] = MetricVerdict(
                rule.metric, "inconclusive", outcome, segment=rule.segment
            )
        else:
            tested.extend(outcome)
    adjusted_of = dict(zip((id(t) for t in tested), holm([t.p_value for t in tested]), strict=True))
    for rule in policy.metrics:
        mine = [t for t in tested if t.rule is rule]
        if not mine:
            continue
        failed = [t for t in mine if adjusted_of[id(t)] < policy.alpha and t.material]
        failed_ids = {id(t) for t in failed}
        # the verdict shows the failing test (else the closest to failing)
        shown = min(failed or mine, key=lambda t: adjusted_of[id(t)])
        adjusted = adjusted_of[id(shown)]
        where = f" in {rule.segment} = {shown.value}" if shown.value is not None else ""
        reason = (
            f"candidate worse than baseline{where} beyond {rule.allowed} (Holm p={adjusted:.3g})"
            if failed
            else f"no material regression (Holm p={adjusted:.3g} at alpha {policy.alpha})"
        )
        details = tuple(
            {
                "value": t.value,
                "verdict": "fail" if id(t) in failed_ids else "pass",
                "adjusted_p": adjusted_of[id(t)],
                "baseline": t.baseline,
                "candidate": t.candidate,
                "n_baseline": t.n_baseline,
                "n_candidate": t.n_candidate,
            }
            for t in mine
            if t.value is not None
        )
        verdicts[rule.label] = MetricVerdict(
            rule.metric,
            "fail" if failed else "pass",
            reason,
            shown.p_value,
            adjusted,
            shown.baseline,
            shown.candidate,
            shown.n_baseline,
            shown.n_candidate,
            segment=rule.segment,
            details=details,
        )
    ordered = tuple(verdicts[r.label] for r in policy.metrics)
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

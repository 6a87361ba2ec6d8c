"""The shadow disagreement report: where, and on which inputs, the candidate decides
differently from the version that answered.

A shadow release logs two rows per mirrored request: the primary's answer (role
``primary``) and the candidate's copy (role ``shadow``), with the same request id and the
inputs the models saw. The report pairs them, from monitoring's windowed read of the
prediction log over the release's life, and says:

- how often the two **decide** differently: a numeric prediction is a decision at
  ``threshold`` (``score >= threshold``), anything else is compared as it is; also the
  mean absolute difference of numeric scores;
- the disagreement rate **by cohort**: each value of each segment field (the ``segments``
  asked for, else every input field of text or booleans with at most
  :data:`MAX_LEVELS` values), and each quartile range of every numeric input, sorted so
  the cohorts where disagreement concentrates come first;
- the inputs that **differ most** between disagreeing and agreeing pairs (a two-sample
  Kolmogorov-Smirnov statistic for numbers, total variation distance for categories);
- the candidate's failures and latency beside the primary's, and the top disagreeing
  examples with their inputs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelward.errors import InputError
from modelward.monitoring import PredictionSink
from modelward.rollout.analysis import _score
from modelward.rollout.plans import Strategy
from modelward.rollout.releases import Release, current_release, get_release

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["MAX_LEVELS", "ShadowReport", "shadow_report", "shadow_report_window"]

#: an input with more distinct values than this is not taken as a segment by default
MAX_LEVELS = 20
#: cohorts smaller than this are listed but not ranked first (their rate is noise)
MIN_COHORT = 10


@dataclass(frozen=True)
class Pair:
    request_id: str
    inputs: dict[str, Any]
    primary: Any
    shadow: Any
    disagree: bool
    #: |primary - shadow| for numeric scores, else None
    diff: float | None


@dataclass
class ShadowReport:
    endpoint: str
    release: str
    baseline: str
    candidate: str
    threshold: float
    pairs: int = 0
    disagreements: int = 0
    mean_abs_diff: float | None = None
    #: mirrored requests the candidate failed on (errors, timeouts), and unpaired copies
    shadow_failed: int = 0
    unpaired: int = 0
    latency_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)
    #: segment field -> cohorts (value, pairs, disagreements, rate), worst first
    segments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: numeric input -> quartile ranges (lo, hi, pairs, disagreements, rate), worst first
    ranges: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: inputs ranked by how differently they are distributed in disagreeing pairs
    top_features: list[dict[str, Any]] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return self.disagreements / self.pairs if self.pairs else None

    def worst_cohort(self) -> dict[str, Any] | None:
        """The cohort (segment value or feature range) with the highest disagreement
        rate among those of at least :data:`MIN_COHORT` pairs."""
        cohorts = [
            {"field": name, **c}
            for groups in (self.segments, self.ranges)
            for name, found in groups.items()
            for c in found
            if c["pairs"] >= MIN_COHORT
        ]
        return max(cohorts, key=lambda c: c["rate"], default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "release": self.release,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "threshold": self.threshold,
            "pairs": self.pairs,
            "disagreements": self.disagreements,
            "disagreement_rate": self.rate,
            "mean_abs_diff": self.mean_abs_diff,
            "shadow_failed": self.shadow_failed,
            "unpaired": self.unpaired,
            "latency_ms": self.latency_ms,
            "worst_cohort": self.worst_cohort(),
            "segments": self.segments,
            "ranges": self.ranges,
            "top_features": self.top_features,
            "examples": self.examples,
        }


def _us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _shadow_release(session: Session, endpoint: str, release_id: str | None) -> Release:
    release = (
        get_release(session, release_id)
        if release_id is not None
        else current_release(session, endpoint)
    )
    if release.endpoint != endpoint:
        raise InputError(
            f"release: {release.id} is on {release.endpoint}, not {endpoint}", field="release"
        )
    if release.strategy is not Strategy.SHADOW:
        raise InputError(
            f"release: {release.id} on {endpoint} is a {release.strategy.value} release; the "
            "shadow report needs a shadow release (give one with --release ID)",
            field="release",
        )
    return release


def shadow_report(
    session: Session,
    sink: PredictionSink,
    endpoint: str,
    *,
    release_id: str | None = None,
    segments: Sequence[str] = (),
    threshold: float = 0.5,
    top: int = 10,
    now: datetime | None = None,
) -> ShadowReport:
    """The disagreement report of ``endpoint``'s shadow release (its current one, or
    ``release_id``), over the release's life so far."""
    if not math.isfinite(threshold):
        raise InputError("threshold: must be a finite number", field="threshold")
    if not 1 <= top <= 1_000:
        raise InputError("top: must be between 1 and 1000", field="top")
    release = _shadow_release(session, endpoint, release_id)
    # the release's life: its rows carry its id, so a finished release's window simply
    # ends with its last copy
    end_us = _us(now or datetime.now(UTC)) + 1
    window = sink.read_window(endpoint, start_us=_us(release.created_at), end_us=end_us)
    return shadow_report_window(
        window,
        endpoint=endpoint,
        release_id=release.id,
        baseline=release.baseline,
        candidate=release.candidate,
        segments=segments,
        threshold=threshold,
        top=top,
    )


def shadow_report_window(
    window: pa.Table,
    *,
    endpoint: str,
    release_id: str,
    baseline: str,
    candidate: str,
    segments: Sequence[str] = (),
    threshold: float = 0.5,
    top: int = 10,
) -> ShadowReport:
    """The report from a window of the endpoint's prediction log (monitoring's Arrow
    shape); only ``release_id``'s rows count."""
    window = window.filter(pc.equal(window.column("release_id"), release_id))
    report = ShadowReport(endpoint, release_id, baseline, candidate, threshold)
    pairs = _pairs(window, threshold, report)
    report.pairs = len(pairs)
    report.disagreements = sum(p.disagree for p in pairs)
    diffs = [p.diff for p in pairs if p.diff is not None]
    report.mean_abs_diff = float(np.mean(diffs)) if diffs else None
    if not pairs:
        return report
    chosen = list(segments) or _default_segments(pairs)
    unknown = [s for s in chosen if not any(s in p.inputs for p in pairs)]
    if unknown:
        fields = sorted({k for p in pairs for k in p.inputs})
        raise InputError(
            f"segments: {', '.join(unknown)} is not an input of {endpoint} "
            f"({', '.join(fields) or 'no inputs logged'})",
            field="segments",
        )
    report.segments = {name: _by_value(pairs, name) for name in chosen}
    numeric = _numeric_inputs(pairs)
    report.ranges = {name: _by_quartile(pairs, name) for name in numeric}
    report.top_features = _differing_features(pairs, numeric, top)
    worst = sorted(
        (p for p in pairs if p.disagree), key=lambda p: -(p.diff if p.diff is not None else 1.0)
    )
    report.examples = [
        {
            "request_id": p.request_id,
            "primary": p.primary,
            "shadow": p.shadow,
            "diff": p.diff,
            "inputs": p.inputs,
        }
        for p in worst[:top]
    ]
    return report


def _pairs(window: pa.Table, threshold: float, report: ShadowReport) -> list[Pair]:
    rows = window.select(["request_id", "role", "error", "latency_ms", "prediction"]).to_pylist()
    inputs = (
        window.column("inputs").to_pylist()
        if "inputs" in window.column_names
        else [{}] * window.num_rows
    )
    primary: dict[str, tuple[dict[str, Any], Any]] = {}
    shadows: dict[str, Any] = {}
    latencies: dict[str, list[float]] = {"primary": [], "shadow": []}
    for row, given in zip(rows, inputs, strict=True):
        role = row["role"]
        if role not in latencies:
            continue
        if row["error"]:
            if role == "shadow":
                report.shadow_failed += 1
            continue
        latencies[role].append(float(row["latency_ms"]))
        if role == "primary":
            primary[row["request_id"]] = (dict(given or {}), row["prediction"])
        else:
            shadows[row["request_id"]] = row["prediction"]
    report.latency_ms = {role: _percentiles(values) for role, values in latencies.items()}
    pairs = []
    for request_id, copy in shadows.items():
        found = primary.get(request_id)
        if found is None:
            report.unpaired += 1
            continue
        given, answer = found
        a, b = _score(answer), _score(copy)
        if a is not None and b is not None:
            pairs.append(
                Pair(request_id, given, a, b, (a >= threshold) != (b >= threshold), abs(a - b))
            )
        else:
            pairs.append(Pair(request_id, given, answer, copy, answer != copy, None))
    return pairs


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    arr = np.asarray(values)
    return {f"p{q}": float(np.percentile(arr, q)) for q in (50, 95, 99)}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _default_segments(pairs: list[Pair]) -> list[str]:
    levels: dict[str, set[Any]] = {}
    for p in pairs:
        for name, value in p.inputs.items():
            if isinstance(value, str | bool):
                levels.setdefault(name, set()).add(value)
    return sorted(name for name, seen in levels.items() if len(seen) <= MAX_LEVELS)


def _numeric_inputs(pairs: list[Pair]) -> list[str]:
    names = {n for p in pairs for n, v in p.inputs.items() if _is_number(v)}
    return sorted(n for n in names if all(_is_number(p.inputs.get(n)) for p in pairs))


def _cohort(members: list[Pair], **where: Any) -> dict[str, Any]:
    bad = sum(p.disagree for p in members)
    return {**where, "pairs": len(members), "disagreements": bad, "rate": bad / len(members)}


def _ranked(cohorts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # cohorts big enough to mean something first, by rate; then the small ones
    return sorted(cohorts, key=lambda c: (c["pairs"] < MIN_COHORT, -c["rate"], -c["pairs"]))


def _by_value(pairs: list[Pair], name: str) -> list[dict[str, Any]]:
    groups: dict[str, list[Pair]] = {}
    for p in pairs:
        groups.setdefault(str(p.inputs.get(name)), []).append(p)
    return _ranked([_cohort(members, value=value) for value, members in groups.items()])


def _by_quartile(pairs: list[Pair], name: str) -> list[dict[str, Any]]:
    values = np.asarray([float(p.inputs[name]) for p in pairs])
    edges = np.unique(np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0]))
    if edges.size < 2:
        return [_cohort(pairs, lo=float(values[0]), hi=float(values[0]))]
    # each value's range: [edge i, edge i+1), the last range closed on the right
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
    cohorts = []
    for i in range(edges.size - 1):
        members = [p for p, at in zip(pairs, index, strict=True) if at == i]
        if members:
            cohorts.append(_cohort(members, lo=float(edges[i]), hi=float(edges[i + 1])))
    return _ranked(cohorts)


def _differing_features(pairs: list[Pair], numeric: list[str], top: int) -> list[dict[str, Any]]:
    from scipy import stats  # type: ignore[import-untyped]

    disagreeing = [p for p in pairs if p.disagree]
    agreeing = [p for p in pairs if not p.disagree]
    if not disagreeing or not agreeing:
        return []
    found: list[dict[str, Any]] = []
    for name in numeric:
        a = [float(p.inputs[name]) for p in disagreeing]
        b = [float(p.inputs[name]) for p in agreeing]
        result = stats.ks_2samp(a, b, method="asymp")
        found.append(
            {
                "feature": name,
                "measure": "ks",
                "distance": float(result.statistic),
                "p_value": float(result.pvalue),
                "disagreeing_mean": float(np.mean(a)),
                "agreeing_mean": float(np.mean(b)),
            }
        )
    categorical = {n for p in pairs for n, v in p.inputs.items() if isinstance(v, str | bool)}
    for name in sorted(categorical):
        a_counts = Counter(str(p.inputs.get(name)) for p in disagreeing)
        b_counts = Counter(str(p.inputs.get(name)) for p in agreeing)
        levels = set(a_counts) | set(b_counts)
        tvd = 0.5 * sum(
            abs(a_counts[v] / len(disagreeing) - b_counts[v] / len(agreeing)) for v in levels
        )
        commonest = a_counts.most_common(1)[0][0]
        found.append(
            {
                "feature": name,
                "measure": "tvd",
                "distance": float(tvd),
                "p_value": None,
                "disagreeing_mode": commonest,
            }
        )
    return sorted(found, key=lambda f: -f["distance"])[:top]

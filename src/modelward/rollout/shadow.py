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
class _Paired:
    """The mirrored requests with both answers, column-wise (one row per pair, in the
    order the copies were logged)."""

    #: the primary's rows of the window, one per pair (its inputs and its answer)
    primary: pa.Table
    #: the shadow's answers, aligned with ``primary``
    shadow: pa.ChunkedArray | pa.Array
    disagree: np.ndarray
    #: |primary - shadow| for numeric scores, NaN where either is not a number
    diff: np.ndarray
    #: the numeric scores (NaN where not a number), for the examples
    primary_score: np.ndarray
    shadow_score: np.ndarray

    def __len__(self) -> int:
        return int(self.disagree.size)

    def inputs(self) -> dict[str, pa.Array]:
        """Input field -> its values over the pairs (an empty dict when none were logged)."""
        if "inputs" not in self.primary.column_names:
            return {}
        column = self.primary.column("inputs").combine_chunks()
        if not isinstance(column, pa.StructArray):
            return {}
        return {column.type.field(i).name: column.field(i) for i in range(column.type.num_fields)}


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
    paired = _pairs(window, threshold, report)
    report.pairs = len(paired)
    report.disagreements = int(paired.disagree.sum())
    numeric_diff = paired.diff[~np.isnan(paired.diff)]
    report.mean_abs_diff = float(np.mean(numeric_diff)) if numeric_diff.size else None
    if not len(paired):
        return report
    inputs = paired.inputs()
    chosen = list(segments) or _default_segments(inputs)
    unknown = [s for s in chosen if s not in inputs]
    if unknown:
        raise InputError(
            f"segments: {', '.join(unknown)} is not an input of {endpoint} "
            f"({', '.join(sorted(inputs)) or 'no inputs logged'})",
            field="segments",
        )
    report.segments = {name: _by_value(inputs[name], paired.disagree) for name in chosen}
    numeric = _numeric_inputs(inputs)
    report.ranges = {name: _by_quartile(numeric[name], paired.disagree) for name in numeric}
    report.top_features = _differing_features(inputs, numeric, paired.disagree, top)
    report.examples = _examples(paired, top)
    return report


def _last_rows(rows: pa.Table) -> pa.Table:
    """(request_id, at: the row index of its last log row, first: of its first) per request."""
    return rows.group_by("request_id", use_threads=False).aggregate(
        [("row", "max"), ("row", "min")]
    )


def _pairs(window: pa.Table, threshold: float, report: ShadowReport) -> _Paired:
    """Pair each mirrored copy with the primary's answer to the same request id: a hash
    join on the request id over row numbers (Arrow's join does not carry the nested
    inputs column, so the rows are taken by number after it)."""
    role, failed = window.column("role"), pc.not_equal(window.column("error"), "")
    report.shadow_failed = int(pc.sum(pc.and_(pc.equal(role, "shadow"), failed)).as_py() or 0)
    rows = window.select(["request_id", "role", "latency_ms"]).append_column(
        "row", pa.array(np.arange(window.num_rows, dtype=np.int64))
    )
    ok = rows.filter(pc.invert(failed))
    primary = ok.filter(pc.equal(ok.column("role"), "primary"))
    shadow = ok.filter(pc.equal(ok.column("role"), "shadow"))
    report.latency_ms = {
        name: _percentiles(part.column("latency_ms").to_numpy())
        for name, part in (("primary", primary), ("shadow", shadow))
    }
    # a request logged twice in one role counts once, with its last answer (a retry)
    copies = _last_rows(shadow).rename_columns(["request_id", "s_row", "s_first"])
    answers = _last_rows(primary).select(["request_id", "row_max"])
    joined = copies.join(answers.rename_columns(["request_id", "p_row"]), "request_id")
    report.unpaired = int(joined.column("p_row").null_count)
    joined = joined.filter(pc.is_valid(joined.column("p_row"))).sort_by("s_first")
    primary_rows = window.select(
        [c for c in ("request_id", "inputs", "prediction") if c in window.column_names]
    ).take(joined.column("p_row"))
    copy = window.column("prediction").take(joined.column("s_row"))
    answer = primary_rows.column("prediction")
    a, b = _numbers(answer), _numbers(copy)
    numeric = ~(np.isnan(a) | np.isnan(b))
    with np.errstate(invalid="ignore"):
        disagree = (a >= threshold) != (b >= threshold)
    diff = np.where(numeric, np.abs(a - b), np.nan)
    if not numeric.all():
        # anything but two numbers is compared as it is (labels, objects)
        where = np.flatnonzero(~numeric)
        left = answer.take(pa.array(where)).to_pylist()
        right = copy.take(pa.array(where)).to_pylist()
        disagree[where] = [x != y for x, y in zip(left, right, strict=True)]
    return _Paired(primary_rows, copy, disagree, diff, a, b)


def _numbers(predictions: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Each prediction as a float (a number, or a one-element list of one); NaN else."""
    kind = predictions.type
    if pa.types.is_floating(kind) or pa.types.is_integer(kind):
        values = pc.fill_null(predictions.cast(pa.float64()), float("nan"))
        # a copy: Arrow's buffer is read-only
        out = np.array(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    else:
        scores = [_score(v) for v in predictions.to_pylist()]
        out = np.asarray([np.nan if s is None else s for s in scores], dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    return out


def _percentiles(values: np.ndarray) -> dict[str, float | None]:
    if not values.size:
        return {"p50": None, "p95": None, "p99": None}
    return {f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}


def _is_categorical(values: pa.Array) -> bool:
    return bool(pa.types.is_string(values.type) or pa.types.is_boolean(values.type))


def _is_numeric(values: pa.Array) -> bool:
    return bool(pa.types.is_integer(values.type) or pa.types.is_floating(values.type))


def _default_segments(inputs: dict[str, pa.Array]) -> list[str]:
    return sorted(
        name
        for name, values in inputs.items()
        if _is_categorical(values)
        and values.null_count < len(values)
        and pc.count_distinct(values, mode="only_valid").as_py() <= MAX_LEVELS
    )


def _numeric_inputs(inputs: dict[str, pa.Array]) -> dict[str, np.ndarray]:
    """Inputs that are a number on every pair, as floats."""
    return {
        name: np.asarray(values.cast(pa.float64()).to_numpy(zero_copy_only=False))
        for name, values in sorted(inputs.items())
        if _is_numeric(values) and values.null_count == 0
    }


def _cohort(pairs: int, disagreements: int, **where: Any) -> dict[str, Any]:
    return {**where, "pairs": pairs, "disagreements": disagreements, "rate": disagreements / pairs}


def _ranked(cohorts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # cohorts big enough to mean something first, by rate; then the small ones
    return sorted(cohorts, key=lambda c: (c["pairs"] < MIN_COHORT, -c["rate"], -c["pairs"]))


def _levels(values: pa.Array) -> tuple[list[str], np.ndarray]:
    """Each value's cohort name (as text, a missing value "None") and its level index."""
    try:
        encoded = pc.dictionary_encode(values, null_encoding="encode")
        names = [str(v) for v in encoded.dictionary.to_pylist()]
        index = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    except pa.ArrowNotImplementedError:  # a type Arrow cannot dictionary-encode
        seen: dict[Any, int] = {}
        index = np.asarray(
            [seen.setdefault(v, len(seen)) for v in values.to_pylist()], dtype=np.int64
        )
        names = [str(v) for v in seen]
    # two values with one text (1 and "1" cannot share a typed column, but None and
    # "None" can) are one cohort, as they read the same
    merged: dict[str, int] = {}
    remap = np.asarray([merged.setdefault(n, len(merged)) for n in names], dtype=np.int64)
    return list(merged), remap[index] if index.size else index


def _by_value(values: pa.Array, disagree: np.ndarray) -> list[dict[str, Any]]:
    names, index = _levels(values)
    pairs = np.bincount(index, minlength=len(names))
    bad = np.bincount(index, weights=disagree, minlength=len(names))
    return _ranked(
        [
            _cohort(int(n), int(d), value=name)
            for name, n, d in zip(names, pairs, bad, strict=True)
            if n
        ]
    )


def _by_quartile(values: np.ndarray, disagree: np.ndarray) -> list[dict[str, Any]]:
    edges = np.unique(np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0]))
    if edges.size < 2:
        lone = float(values[0])
        return [_cohort(int(values.size), int(disagree.sum()), lo=lone, hi=lone)]
    # each value's range: [edge i, edge i+1), the last range closed on the right
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
    pairs = np.bincount(index, minlength=edges.size - 1)
    bad = np.bincount(index, weights=disagree, minlength=edges.size - 1)
    return _ranked(
        [
            _cohort(int(pairs[i]), int(bad[i]), lo=float(edges[i]), hi=float(edges[i + 1]))
            for i in range(edges.size - 1)
            if pairs[i]
        ]
    )


def _differing_features(
    inputs: dict[str, pa.Array],
    numeric: dict[str, np.ndarray],
    disagree: np.ndarray,
    top: int,
) -> list[dict[str, Any]]:
    from scipy import stats  # type: ignore[import-untyped]

    n_bad = int(disagree.sum())
    n_good = int(disagree.size - n_bad)
    if not n_bad or not n_good:
        return []
    found: list[dict[str, Any]] = []
    for name, values in numeric.items():
        a, b = values[disagree], values[~disagree]
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
    for name in sorted(
        n for n, v in inputs.items() if _is_categorical(v) and v.null_count < len(v)
    ):
        levels, index = _levels(inputs[name])
        a_counts = np.bincount(index[disagree], minlength=len(levels))
        b_counts = np.bincount(index[~disagree], minlength=len(levels))
        tvd = 0.5 * float(np.abs(a_counts / n_bad - b_counts / n_good).sum())
        # the commonest value among disagreeing pairs; a tie goes to the one seen first
        first_seen = np.full(len(levels), disagree.size, dtype=np.int64)
        bad_index = index[disagree]
        np.minimum.at(first_seen, bad_index, np.arange(bad_index.size))
        top_count = a_counts.max()
        commonest = min(np.flatnonzero(a_counts == top_count), key=lambda i: first_seen[i])
        found.append(
            {
                "feature": name,
                "measure": "tvd",
                "distance": tvd,
                "p_value": None,
                "disagreeing_mode": levels[commonest],
            }
        )
    return sorted(found, key=lambda f: -f["distance"])[:top]


def _examples(paired: _Paired, top: int) -> list[dict[str, Any]]:
    """The ``top`` disagreeing pairs, the most different scores first (a disagreement
    that is not between numbers counts as a difference of 1)."""
    bad = np.flatnonzero(paired.disagree)
    diff = np.where(np.isnan(paired.diff[bad]), 1.0, paired.diff[bad])
    chosen = bad[np.argsort(-diff, kind="stable")[:top]]
    rows = paired.primary.take(pa.array(chosen, pa.int64()))
    inputs = (
        rows.column("inputs").to_pylist() if "inputs" in rows.column_names else [{}] * len(chosen)
    )
    request_ids = rows.column("request_id").to_pylist()
    raw_primary = rows.column("prediction").to_pylist()
    raw_shadow = paired.shadow.take(pa.array(chosen, pa.int64())).to_pylist()
    examples = []
    for i, at in enumerate(chosen):
        a, b = paired.primary_score[at], paired.shadow_score[at]
        numeric = not (np.isnan(a) or np.isnan(b))
        examples.append(
            {
                "request_id": request_ids[i],
                "primary": float(a) if numeric else raw_primary[i],
                "shadow": float(b) if numeric else raw_shadow[i],
                "diff": float(paired.diff[at]) if numeric else None,
                "inputs": dict(inputs[i] or {}),
            }
        )
    return examples

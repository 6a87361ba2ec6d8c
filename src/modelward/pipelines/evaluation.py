"""Evaluation against the champion: metrics overall and per segment, calibration, golden set.

The candidate and the current Production version are scored on the same held-out rows;
:class:`AcceptancePolicy` (code, not configuration prose) says whether the candidate may
replace the champion, and its :class:`PolicyResult` is logged with the version (the
``acceptance_passed`` metric, usable by the registry's ``metric_above`` gate) and written
in the evaluation report (:mod:`modelward.pipelines.report`).

>>> cand = evaluate(y, p_new, segments={"plan": plans}, label="candidate")  # doctest: +SKIP
>>> champ = evaluate(y, p_old, segments={"plan": plans}, label="churn@3")  # doctest: +SKIP
>>> AcceptancePolicy(metric="roc_auc", min_delta=0.0).judge(cand, champ).passed  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelward.errors import InputError

__all__ = [
    "GAIN_METRICS",
    "AcceptancePolicy",
    "Calibration",
    "Evaluation",
    "GainInterval",
    "GoldenSet",
    "PolicyCheck",
    "PolicyResult",
    "calibration",
    "compare_golden",
    "evaluate",
    "gain_interval",
    "golden_set",
]

#: metrics where lower is better; every other metric is higher-is-better
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece"})
_CURVE_POINTS = 101


def _show(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _change(gain: float) -> str:
    """A signed gain in words, the sign and the word always agreeing."""
    if round(gain, 4) == 0:
        return "the same (±0.0000)"
    return f"better by {gain:.4f}" if gain > 0 else f"worse by {-gain:.4f}"


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Calibration:
    """A reliability curve (equal-width bins of the predicted probability) and its ECE."""

    bins: list[dict[str, float]]
    ece: float

    def to_dict(self) -> dict[str, Any]:
        return {"ece": self.ece, "bins": self.bins}


def calibration(y_true: Sequence[int], y_prob: Sequence[float], bins: int = 10) -> Calibration:
    """Expected calibration error: sum over bins of |observed - predicted| x bin share."""
    import numpy as np

    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_prob, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    out: list[dict[str, float]] = []
    ece = 0.0
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        if count == 0:
            continue
        predicted, observed = float(p[mask].mean()), float(y[mask].mean())
        ece += abs(observed - predicted) * count / len(y)
        out.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "mean_predicted": round(predicted, 6),
                "observed": round(observed, 6),
                "count": count,
            }
        )
    return Calibration(out, round(ece, 6))


def _metrics(y: Any, p: Any, threshold: float) -> dict[str, float | None]:
    from sklearn.metrics import (  # type: ignore[import-untyped]
        accuracy_score,
        average_precision_score,
        brier_score_loss,
        f1_score,
        log_loss,
        roc_auc_score,
    )

    both = len(set(y.tolist())) == 2
    pred = (p >= threshold).astype(int)
    return {
        "roc_auc": _finite(roc_auc_score(y, p)) if both else None,
        "pr_auc": _finite(average_precision_score(y, p)) if both else None,
        "log_loss": _finite(log_loss(y, p, labels=[0, 1])),
        "brier": _finite(brier_score_loss(y, p)),
        "accuracy": _finite(accuracy_score(y, pred)),
        "f1": _finite(f1_score(y, pred, zero_division=0)),
        "positive_rate": _finite(float(y.mean())),
        "n": len(y),  # a count: an integer in the report and in JSON
    }


def _confusion(y: Any, p: Any, threshold: float) -> dict[str, int]:
    pred = p >= threshold
    truth = y == 1
    return {
        "tp": int((pred & truth).sum()),
        "fp": int((pred & ~truth).sum()),
        "fn": int((~pred & truth).sum()),
        "tn": int((~pred & ~truth).sum()),
    }


def _curve(xs: Any, ys: Any) -> dict[str, list[float]]:
    import numpy as np

    if len(xs) > _CURVE_POINTS:
        pick = np.unique(np.linspace(0, len(xs) - 1, _CURVE_POINTS).round().astype(int))
        xs, ys = xs[pick], ys[pick]
    return {"x": [round(float(v), 5) for v in xs], "y": [round(float(v), 5) for v in ys]}


@dataclass(frozen=True)
class Evaluation:
    """One model scored on one held-out set."""

    label: str
    overall: dict[str, float | None]
    #: {segment column: {segment value: metrics}}
    segments: dict[str, dict[str, dict[str, float | None]]]
    calibration: Calibration
    #: ROC (x=FPR, y=TPR) and PR (x=recall, y=precision), at most 101 points each
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    #: parity across each declared sensitive attribute (:func:`~.fairness.fairness`)
    fairness: dict[str, Any] = field(default_factory=dict)
    #: the probability at or above which a row is predicted positive (accuracy, F1, matrix)
    threshold: float = 0.5
    #: true/false positives/negatives at ``threshold``
    confusion: dict[str, int] = field(default_factory=dict)

    def metric(self, name: str) -> float | None:
        if name == "ece":
            return self.calibration.ece
        return self.overall.get(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "overall": {**self.overall, "ece": self.calibration.ece},
            "segments": self.segments,
            "calibration": self.calibration.to_dict(),
            "curves": self.curves,
            "fairness": self.fairness,
            "threshold": self.threshold,
            "confusion": self.confusion,
        }

    def flat_segments(self, metric: str) -> dict[str, float]:
        """``{"plan=basic/roc_auc": value}`` for logging per-segment metrics."""
        return {
            f"{col}={val}": v
            for col, values in self.segments.items()
            for val, m in values.items()
            if (v := m.get(metric)) is not None
        }


def evaluate(
    y_true: Sequence[int],
    y_prob: Sequence[float],
    *,
    segments: Mapping[str, Sequence[Any]] | None = None,
    label: str = "candidate",
    bins: int = 10,
    threshold: float = 0.5,
    sensitive: Mapping[str, Sequence[Any]] | None = None,
    min_group_rows: int = 30,
) -> Evaluation:
    """Score predicted probabilities of the positive class against 0/1 labels.

    ``sensitive`` declares attributes (``{"region": values}``) whose groups are compared
    for selection-rate and true-positive-rate parity, overall and inside each segment.
    """
    import numpy as np
    from sklearn.metrics import precision_recall_curve, roc_curve

    y = np.asarray(y_true).astype(int)
    p = np.asarray(y_prob, dtype=float)
    if len(y) != len(p) or len(y) == 0:
        raise InputError(
            f"evaluate {label!r}: {len(y)} labels and {len(p)} predictions; need equal, non-zero",
            field="y_prob",
        )
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise InputError(f"evaluate {label!r}: labels must be 0 or 1", field="y_true")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise InputError(
            f"evaluate {label!r}: predictions must be probabilities in [0, 1]", field="y_prob"
        )
    per_segment: dict[str, dict[str, dict[str, float | None]]] = {}
    for column, values in (segments or {}).items():
        arr = np.asarray([str(v) for v in values])
        if len(arr) != len(y):
            raise InputError(
                f"evaluate {label!r}: segment {column!r} has {len(arr)} values for {len(y)} rows",
                segment=column,
            )
        per_segment[column] = {
            str(v): _metrics(y[arr == v], p[arr == v], threshold) for v in sorted(set(arr))
        }
    curves: dict[str, dict[str, list[float]]] = {}
    if len(set(y.tolist())) == 2:
        fpr, tpr, _ = roc_curve(y, p)
        precision, recall, _ = precision_recall_curve(y, p)
        curves = {"roc": _curve(fpr, tpr), "pr": _curve(recall[::-1], precision[::-1])}
    parity: dict[str, Any] = {}
    if sensitive:
        from modelward.pipelines.fairness import fairness

        parity = fairness(
            y, p, sensitive, segments=segments, threshold=threshold, min_group_rows=min_group_rows
        )
    return Evaluation(
        label,
        _metrics(y, p, threshold),
        per_segment,
        calibration(y.tolist(), p.tolist(), bins),
        curves,
        parity,
        threshold,
        _confusion(y, p, threshold),
    )


@dataclass(frozen=True)
class GainInterval:
    """How sure the candidate's gain over the champion is: a paired bootstrap interval.

    ``estimate`` is the gain on the held-out rows (positive: the candidate is better, for
    lower-is-better metrics too); ``low``..``high`` the ``confidence`` interval of that gain
    when the rows are resampled, both models scored on the same resampled rows each time.
    """

    metric: str
    estimate: float
    low: float
    high: float
    confidence: float
    resamples: int
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "rows": self.rows,
            "method": "paired bootstrap, percentile interval (scipy.stats.bootstrap)",
        }


#: metrics :func:`gain_interval` can put an interval on
GAIN_METRICS = frozenset({"roc_auc", "log_loss", "brier"})


def _batched_metric(metric: str, y: Any, p: Any) -> Any:
    """``metric`` of each row of ``y``/``p`` (resamples along the last axis), vectorised:
    a thousand resamples cost a few array passes, not a thousand scikit-learn calls.

    ROC AUC is the Mann-Whitney form (ranks with ties averaged, as scikit-learn counts a
    tie as half); log loss clips probabilities as scikit-learn does.
    """
    import numpy as np
    from scipy import stats  # type: ignore[import-untyped]

    if metric == "brier":
        return np.mean((p - y) ** 2, axis=-1)
    if metric == "log_loss":
        eps = np.finfo(float).eps
        q = np.clip(p, eps, 1 - eps)
        return -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q), axis=-1)
    ranks = stats.rankdata(p, axis=-1)
    positives = y.sum(axis=-1)
    negatives = y.shape[-1] - positives
    with np.errstate(invalid="ignore", divide="ignore"):  # a one-class resample: no AUC
        return ((ranks * y).sum(axis=-1) - positives * (positives + 1) / 2) / (
            positives * negatives
        )


def gain_interval(
    y_true: Sequence[int],
    candidate: Sequence[float],
    champion: Sequence[float],
    *,
    metric: str = "roc_auc",
    confidence: float = 0.95,
    resamples: int = 1_000,
    seed: int = 7,
) -> GainInterval:
    """The candidate's gain on ``metric`` with a bootstrap confidence interval (seeded, so
    the same inputs give the same interval)."""
    import numpy as np
    from scipy import stats

    if metric not in GAIN_METRICS:
        raise InputError(
            f"gain_interval: metric {metric!r} is not one of {', '.join(sorted(GAIN_METRICS))}",
            field="metric",
        )
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    y = np.asarray(y_true).astype(float)
    new, old = np.asarray(candidate, dtype=float), np.asarray(champion, dtype=float)
    if not len(y) == len(new) == len(old) or len(set(y.tolist())) < 2:
        raise InputError(
            "gain_interval: labels (both classes present) and two predictions per row needed",
            field="y_true",
        )

    def gain(yy: Any, a: Any, b: Any, axis: int = -1) -> Any:
        return sign * (_batched_metric(metric, yy, a) - _batched_metric(metric, yy, b))

    result = stats.bootstrap(
        (y, new, old),
        gain,
        paired=True,
        vectorized=True,
        batch=100,  # bounds memory: 100 resamples of every row at a time
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return GainInterval(
        metric,
        round(float(gain(y, new, old)), 6),
        round(float(low), 6),
        round(float(high), 6),
        confidence,
        resamples,
        len(y),
    )


# ------------------------------------------------------------------------- golden set


@dataclass(frozen=True)
class GoldenSet:
    """Representative rows with the predictions a version is expected to give for them."""

    rows: list[dict[str, Any]]
    expected: list[float]

    @property
    def hash(self) -> str:
        body = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "expected": self.expected}


def golden_set(
    rows: Sequence[Mapping[str, Any]],
    predictions: Sequence[float],
    *,
    segment_columns: Sequence[str] = (),
    per_segment: int = 5,
    order_by: str | None = None,
) -> GoldenSet:
    """The first ``per_segment`` rows (by ``order_by``) of every segment combination."""
    if len(rows) != len(predictions):
        raise InputError("golden_set: rows and predictions differ in length", field="predictions")
    order = list(range(len(rows)))
    if order_by is not None:
        order.sort(key=lambda i: (str(rows[i][order_by]), i))
    taken: dict[tuple[str, ...], int] = {}
    picked: list[int] = []
    for i in order:
        key = tuple(str(rows[i][c]) for c in segment_columns)
        if taken.get(key, 0) < per_segment:
            taken[key] = taken.get(key, 0) + 1
            picked.append(i)
    return GoldenSet(
        rows=[json.loads(json.dumps(dict(rows[i]), default=str)) for i in picked],
        expected=[round(float(predictions[i]), 8) for i in picked],
    )


def compare_golden(
    golden: GoldenSet, predictions: Sequence[float], tolerance: float = 0.0
) -> list[dict[str, Any]]:
    """Rows whose prediction moved by more than ``tolerance``; empty when all agree."""
    if len(predictions) != len(golden.expected):
        raise InputError("compare_golden: wrong number of predictions", field="predictions")
    return [
        {"row": i, "expected": e, "got": round(float(g), 8), "diff": abs(float(g) - e)}
        for i, (e, g) in enumerate(zip(golden.expected, predictions, strict=True))
        if abs(float(g) - e) > tolerance
    ]


# ------------------------------------------------------------------- acceptance policy


@dataclass(frozen=True)
class PolicyCheck:
    name: str
    passed: bool
    observed: float | None
    threshold: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "observed": self.observed,
            "threshold": self.threshold,
            "message": self.message,
        }


@dataclass(frozen=True)
class PolicyResult:
    passed: bool
    checks: list[PolicyCheck]
    champion: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "champion": self.champion,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class AcceptancePolicy:
    """Beat the champion by ``min_delta`` on ``metric``; no segment worse than the champion's
    by more than ``max_segment_drop``; expected calibration error below ``max_ece``."""

    metric: str = "roc_auc"
    min_delta: float = 0.0
    max_segment_drop: float = 0.05
    max_ece: float = 0.1
    #: segments with fewer rows are reported but not judged (too noisy)
    min_segment_rows: int = 50
    #: fairness across each sensitive attribute the evaluation declared: the lowest group
    #: selection rate over the highest must be at least this (0.8: the four-fifths rule)
    min_selection_rate_ratio: float | None = None
    #: ... and the true-positive rates of the groups at most this far apart
    max_true_positive_rate_difference: float | None = None
    #: judge the parities inside every segment too, not only over all rows
    fairness_per_segment: bool = True

    def __post_init__(self) -> None:
        for name in ("min_delta", "max_segment_drop", "max_ece"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InputError(f"AcceptancePolicy.{name}: must be a number >= 0", field=name)
        for name in ("min_selection_rate_ratio", "max_true_positive_rate_difference"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
                raise InputError(
                    f"AcceptancePolicy.{name}: must be between 0 and 1, or None", field=name
                )

    @property
    def judges_fairness(self) -> bool:
        return (
            self.min_selection_rate_ratio is not None
            or self.max_true_positive_rate_difference is not None
        )

    def _better(self, new: float, old: float) -> float:
        return old - new if self.metric in LOWER_IS_BETTER else new - old

    def judge(self, candidate: Evaluation, champion: Evaluation | None) -> PolicyResult:
        checks: list[PolicyCheck] = []
        cand = candidate.metric(self.metric)
        if cand is None:
            checks.append(
                PolicyCheck(self.metric, False, None, None, f"{self.metric} could not be computed")
            )
        elif champion is None:
            checks.append(
                PolicyCheck(
                    f"beats champion on {self.metric}",
                    True,
                    cand,
                    None,
                    "no champion (no Production version): nothing to beat",
                )
            )
        else:
            champ = champion.metric(self.metric)
            gain = None if champ is None else self._better(cand, champ)
            ok = gain is None or gain >= self.min_delta
            checks.append(
                PolicyCheck(
                    f"beats champion on {self.metric}",
                    ok,
                    None if gain is None else round(gain, 6),
                    self.min_delta,
                    f"{self.metric} {cand:.4f} vs champion {_show(champ)}: "
                    + ("n/a" if gain is None else _change(gain))
                    + f" (needed: better by at least {self.min_delta:g})",
                )
            )
            checks.extend(self._segments(candidate, champion))
        checks.extend(self._fairness(candidate))
        ece = candidate.calibration.ece
        checks.append(
            PolicyCheck(
                "calibration",
                ece < self.max_ece,
                ece,
                self.max_ece,
                f"expected calibration error {ece:.4f} (need < {self.max_ece})",
            )
        )
        return PolicyResult(
            all(c.passed for c in checks), checks, champion.label if champion else None
        )

    def _segments(self, candidate: Evaluation, champion: Evaluation) -> list[PolicyCheck]:
        out: list[PolicyCheck] = []
        for column, values in candidate.segments.items():
            for value, metrics in values.items():
                old = (champion.segments.get(column) or {}).get(value) or {}
                new_v, old_v = metrics.get(self.metric), old.get(self.metric)
                if new_v is None or old_v is None:
                    continue
                if (metrics.get("n") or 0) < self.min_segment_rows:
                    continue
                # observed is the signed gain (positive: better) like the overall check's,
                # and the threshold the lowest gain allowed, so the two read the same way
                gain = self._better(new_v, old_v)
                out.append(
                    PolicyCheck(
                        f"segment {column}={value}",
                        gain >= -self.max_segment_drop,
                        round(gain, 6),
                        -self.max_segment_drop,
                        f"{self.metric} {new_v:.4f} vs champion {old_v:.4f}: {_change(gain)} "
                        f"(allowed: worse by at most {self.max_segment_drop:g})",
                    )
                )
        return out

    def _fairness(self, candidate: Evaluation) -> list[PolicyCheck]:
        from modelward.registry import parity_checks

        if not self.judges_fairness:
            return []
        if not candidate.fairness:
            return [
                PolicyCheck(
                    "fairness",
                    False,
                    None,
                    None,
                    "the policy judges fairness, but the evaluation declared no sensitive "
                    "attribute",
                )
            ]
        return [
            PolicyCheck(c.name, c.passed, c.observed, c.threshold, c.message)
            for attribute, report in candidate.fairness.items()
            for c in parity_checks(
                attribute,
                report,
                min_selection_rate_ratio=self.min_selection_rate_ratio,
                max_true_positive_rate_difference=self.max_true_positive_rate_difference,
                per_segment=self.fairness_per_segment,
            )
        ]

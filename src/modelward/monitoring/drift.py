"""Data and prediction drift of a window against a version's reference profile.

The verdict per feature rests on an effect size first, because at a million rows every
test's p-value is tiny for differences nobody would act on:

- numbers: the Wasserstein-1 distance between the window's and the reference's quantile
  functions, divided by the reference's standard deviation ("how many sd the mass moved");
  a 0.2 sd mean shift scores 0.2, whatever n is;
- categories: the Jensen-Shannon distance (base 2, in [0, 1]) between the frequencies;
  moving 0.15 of the probability mass scores about 0.14-0.19.

Thresholds on these do not grow or shrink with n. A test is the secondary evidence, so a
large effect measured on noise does not alert: a two-sample Kolmogorov-Smirnov statistic
against the reference's CDF (numbers) or a chi-square test of the two count vectors
(categories), its p-values corrected for the number of features with Benjamini-Hochberg.
A feature drifts when its effect is at least the threshold *and* its corrected p-value is
below ``alpha``. Below ``min_rows`` non-null values the verdict is ``inconclusive``, never
"no drift". Beside drift, each feature reports its null-rate jump and the share of values
in categories the reference never saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from scipy import stats  # type: ignore[import-untyped]
from scipy.spatial.distance import jensenshannon  # type: ignore[import-untyped]

from modelward.monitoring.profiles import (
    OTHER,
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
    ReferenceProfile,
    category_counts,
    column_values,
    quantile_grid,
    sorted_quantiles,
)

__all__ = ["DriftReport", "DriftThresholds", "FeatureDrift", "detect_drift"]

Status = Literal["drift", "stable", "inconclusive", "missing"]
PREDICTION = "prediction"


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature counts as drifted; none of these depend on the window's size."""

    #: normalised Wasserstein distance (reference sd units) at or above which numbers drift
    wasserstein: float = 0.1
    #: Jensen-Shannon distance at or above which categories drift
    jensen_shannon: float = 0.1
    #: false discovery rate of the secondary test, across the features of one report
    alpha: float = 0.01
    #: fewer non-null window values than this: inconclusive
    min_rows: int = 500
    #: a null rate this much above (or below) the reference's is a data quality anomaly
    null_rate_jump: float = 0.05
    #: a share of values in unseen categories at or above this is a data quality anomaly
    unseen_share: float = 0.01


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: Literal["numeric", "categorical"]
    status: Status
    #: rows of the window with a value (non-null)
    rows: int
    effect: float | None = None
    #: "wasserstein_sd" or "jensen_shannon"
    effect_name: str = ""
    #: the secondary test's statistic and its corrected p-value
    statistic: float | None = None
    p_value: float | None = None
    null_rate_reference: float = 0.0
    null_rate_window: float = 0.0
    #: category -> share of the window's values, for categories the reference never saw
    unseen_categories: dict[str, float] = field(default_factory=dict)
    #: data quality anomalies on this feature: "null_rate_jump", "unseen_categories",
    #: "missing_feature"
    quality: list[str] = field(default_factory=list)
    #: for the report: the window's quantiles (numbers) or frequencies (categories)
    window_quantiles: list[float] = field(default_factory=list)
    window_frequencies: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftReport:
    rows: int
    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    thresholds: DriftThresholds

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.status == "drift"]

    @property
    def quality_anomalies(self) -> dict[str, list[str]]:
        return {f.feature: f.quality for f in self.features if f.quality}

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "drifted": self.drifted,
            "quality_anomalies": self.quality_anomalies,
            "features": [f.to_dict() for f in self.features],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "thresholds": asdict(self.thresholds),
        }


@dataclass
class _Measured:
    """A feature's effect and its test before the p-values are corrected together."""

    drift: FeatureDrift
    p_raw: float | None = None


def _numeric(name: str, ref: NumericProfile, values: np.ndarray, t: DriftThresholds) -> _Measured:
    values = np.asarray(values, float)
    present = values[~np.isnan(values)]
    null_rate = 1.0 - len(present) / len(values) if len(values) else 0.0
    base = {
        "feature": name,
        "kind": "numeric",
        "rows": len(present),
        "effect_name": "wasserstein_sd",
        "null_rate_reference": ref.null_rate,
        "null_rate_window": null_rate,
    }
    if len(present) < t.min_rows or not ref.quantiles:
        return _Measured(FeatureDrift(status="inconclusive", **base))  # type: ignore[arg-type]
    present.sort()
    window_q = sorted_quantiles(present)
    ref_q = np.asarray(ref.quantiles)
    scale = ref.std if ref.std > 0 else max(abs(ref.mean), 1.0)
    effect = float(np.abs(window_q - ref_q).mean() / scale)
    # KS: the reference CDF is the sketch's step function; the window's is exact. The
    # largest gap is at a window value or at a sketch point, so both are checked.
    grid = quantile_grid()
    m = len(present)
    ref_cdf_at_window = np.searchsorted(ref_q, present, side="right") / len(ref_q)
    rank = np.arange(1, m + 1) / m
    gap = max(
        float(np.max(np.abs(ref_cdf_at_window - rank))),
        float(np.max(np.abs(ref_cdf_at_window - (rank - 1 / m)))),
        float(np.max(np.abs(np.searchsorted(present, ref_q, side="right") / m - grid))),
    )
    n_eff = ref.count * m / (ref.count + m)
    p_raw = float(stats.kstwobign.sf(gap * np.sqrt(n_eff)))
    drift = FeatureDrift(
        status="stable",
        effect=effect,
        statistic=gap,
        window_quantiles=window_q.tolist(),
        **base,  # type: ignore[arg-type]
    )
    return _Measured(drift, p_raw)


def _categorical(
    name: str, ref: CategoricalProfile, values: pa.Array, t: DriftThresholds
) -> _Measured:
    counts, nulls = category_counts(values)
    total = sum(counts.values())
    null_rate = nulls / len(values) if len(values) else 0.0
    known = set(ref.frequencies) - {OTHER}
    unseen = {k: n / total for k, n in counts.items() if k not in known} if total else {}
    # categories folded into OTHER at training time are not "unseen" in the window: only
    # the share beyond what OTHER held is new, so they are compared as OTHER
    if OTHER in ref.frequencies:
        unseen = {}
    frequencies = {k: n / total for k, n in counts.items()} if total else {}
    quality = []
    if abs(null_rate - ref.null_rate) >= t.null_rate_jump:
        quality.append("null_rate_jump")
    if sum(unseen.values()) >= t.unseen_share:
        quality.append("unseen_categories")
    base = {
        "feature": name,
        "kind": "categorical",
        "rows": total,
        "effect_name": "jensen_shannon",
        "null_rate_reference": ref.null_rate,
        "null_rate_window": null_rate,
        "unseen_categories": unseen,
        "quality": quality,
        "window_frequencies": frequencies,
    }
    if total < t.min_rows:
        return _Measured(FeatureDrift(status="inconclusive", **base))  # type: ignore[arg-type]
    folded = OTHER in ref.frequencies

    def bucket(category: str) -> str:
        return category if category in known or not folded else OTHER

    names = sorted(set(ref.frequencies) | {bucket(k) for k in counts})
    index = {k: i for i, k in enumerate(names)}
    window_counts = np.zeros(len(names))
    for k, n in counts.items():
        window_counts[index[bucket(k)]] += n
    ref_p = np.array([ref.frequencies.get(k, 0.0) for k in names])
    effect = float(jensenshannon(ref_p, window_counts / total, base=2))
    table = np.vstack([ref_p * ref.count, window_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        statistic, p_raw = 0.0, 1.0
    else:
        result = stats.chi2_contingency(table, correction=False)
        statistic, p_raw = float(result.statistic), float(result.pvalue)
    drift = FeatureDrift(status="stable", effect=effect, statistic=statistic, **base)  # type: ignore[arg-type]
    return _Measured(drift, p_raw)


def _measure(name: str, ref: FeatureProfile, raw: Any, t: DriftThresholds) -> _Measured:
    values = column_values(raw)
    if isinstance(ref, NumericProfile):
        if not isinstance(values, np.ndarray):  # text where numbers were trained: all unusable
            values = np.full(len(values), np.nan)
        measured = _numeric(name, ref, values, t)
        if abs(measured.drift.null_rate_window - ref.null_rate) >= t.null_rate_jump:
            measured.drift.quality.append("null_rate_jump")
        return measured
    if isinstance(values, np.ndarray):
        values = pa.array([None if np.isnan(v) else str(v) for v in values], pa.string())
    return _categorical(name, ref, values, t)


def _decide(measured: list[_Measured], t: DriftThresholds) -> list[FeatureDrift]:
    tested = [m for m in measured if m.p_raw is not None]
    if tested:
        adjusted = stats.false_discovery_control([m.p_raw for m in tested], method="bh")
        for m, p in zip(tested, adjusted, strict=True):
            d = m.drift
            limit = t.wasserstein if d.kind == "numeric" else t.jensen_shannon
            assert d.effect is not None
            status: Status = "drift" if d.effect >= limit and p < t.alpha else "stable"
            m.drift = FeatureDrift(**{**asdict(d), "status": status, "p_value": float(p)})
    return [m.drift for m in measured]


def detect_drift(
    reference: ReferenceProfile,
    window: pa.Table | Mapping[str, Any],
    *,
    predictions: Any = None,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Compare the features of ``window`` (columns by feature name) and ``predictions``
    with ``reference``. A feature of the reference absent from the window is ``missing``
    (a data quality anomaly); columns the reference does not know are ignored.

    >>> report = detect_drift(profile, window_inputs, predictions=scores)  # doctest: +SKIP
    >>> report.drifted
    ['monthly_spend']
    """
    t = thresholds or DriftThresholds()
    names = window.column_names if isinstance(window, pa.Table) else list(window)
    rows = window.num_rows if isinstance(window, pa.Table) else 0
    measured: list[_Measured] = []
    for name, ref in reference.features.items():
        if name not in names:
            kind: Literal["numeric", "categorical"] = (
                "numeric" if isinstance(ref, NumericProfile) else "categorical"
            )
            measured.append(
                _Measured(
                    FeatureDrift(
                        name,
                        kind,
                        "missing",
                        0,
                        null_rate_reference=ref.null_rate,
                        null_rate_window=1.0,
                        quality=["missing_feature"],
                    )
                )
            )
            continue
        raw = window.column(name) if isinstance(window, pa.Table) else window[name]
        rows = max(rows, len(raw))
        measured.append(_measure(name, ref, raw, t))
    scored = predictions is not None and reference.prediction is not None
    if scored:
        assert reference.prediction is not None
        measured.append(_measure(PREDICTION, reference.prediction, predictions, t))
    decided = _decide(measured, t)
    prediction = decided.pop() if scored else None
    return DriftReport(rows, decided, prediction, t)

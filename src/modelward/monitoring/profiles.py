"""Reference profiles: what a model version's training data looked like, kept compactly.

A profile holds, per feature, either a quantile sketch (numbers: :data:`QUANTILES` evenly
spaced quantiles at the midpoints ``(i + 0.5) / QUANTILES``, plus count, null rate, mean,
standard deviation, min and max) or category frequencies (the :data:`MAX_CATEGORIES` most
frequent, the rest as one :data:`OTHER` share), the same for the prediction on the held-out
set, and the model's feature importance when it has one. A few kilobytes per feature,
whatever the training set's size, so it is stored as JSON beside the version and a monitor
run compares a window against it without reading the training data again.

Why quantiles rather than a histogram: the drift effect size (normalised Wasserstein) is
the mean distance between quantile functions, and the KS statistic needs a CDF; both come
straight from a quantile sketch, and a histogram for the report is drawn from it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "MAX_CATEGORIES",
    "OTHER",
    "QUANTILES",
    "CategoricalProfile",
    "NumericProfile",
    "ReferenceProfile",
    "build_profile",
    "category_counts",
    "column_values",
    "quantile_grid",
    "sorted_quantiles",
]

#: points of a numeric feature's quantile sketch (resolution 1/500 of probability)
QUANTILES = 500
#: categories kept by name; rarer ones share :data:`OTHER`
MAX_CATEGORIES = 50
OTHER = "__other__"


def quantile_grid() -> np.ndarray:
    return (np.arange(QUANTILES) + 0.5) / QUANTILES


@dataclass(frozen=True)
class NumericProfile:
    count: int
    null_rate: float
    mean: float
    std: float
    min: float
    max: float
    #: the values at :func:`quantile_grid` probabilities
    quantiles: list[float]
    kind: Literal["numeric"] = "numeric"


@dataclass(frozen=True)
class CategoricalProfile:
    count: int
    null_rate: float
    #: share of the non-null values per category (plus :data:`OTHER`), summing to 1
    frequencies: dict[str, float]
    kind: Literal["categorical"] = "categorical"


FeatureProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference a version's windows are compared against."""

    rows: int
    features: dict[str, FeatureProfile]
    #: the model's score on the held-out set (a probability for a classifier)
    prediction: NumericProfile | None = None
    #: feature -> importance, summing to 1 (the model's own, when it has one)
    importance: dict[str, float] = field(default_factory=dict)
    #: where the importance came from: "model" (its own), "permutation" or ""
    importance_source: str = ""
    #: the held-out metrics at registration (``roc_auc``, ...): what realised
    #: performance is compared with
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        def feature(d: Mapping[str, Any]) -> FeatureProfile:
            if d["kind"] == "numeric":
                return NumericProfile(**d)
            return CategoricalProfile(**d)

        prediction = data.get("prediction")
        return cls(
            rows=int(data["rows"]),
            features={k: feature(v) for k, v in data["features"].items()},
            prediction=NumericProfile(**prediction) if prediction else None,
            importance=dict(data.get("importance") or {}),
            importance_source=str(data.get("importance_source") or ""),
            metrics=dict(data.get("metrics") or {}),
        )

    def ranked_features(self) -> list[str]:
        """Features by importance, most important first (the others after, by name)."""
        return sorted(self.features, key=lambda f: (-self.importance.get(f, 0.0), f))


def column_values(column: Any) -> np.ndarray | pa.Array:
    """A column as float64 numpy (NaN for nulls) when numeric, else an Arrow string array
    (categories are counted by Arrow, far faster than sorting Python strings)."""
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiu":
        return np.asarray(column, float)
    if isinstance(column, pa.ChunkedArray):
        array: pa.Array = column.combine_chunks()
    elif isinstance(column, pa.Array):
        array = column
    else:
        array = pa.array(list(column) if isinstance(column, np.ndarray) else column)
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), float)
    if pa.types.is_null(kind):
        return np.full(len(array), np.nan)
    return pc.cast(array, pa.string())


def numeric_profile(values: np.ndarray) -> NumericProfile:
    finite = values[~np.isnan(values)]
    null_rate = 1.0 - len(finite) / len(values) if len(values) else 0.0
    if not len(finite):
        return NumericProfile(0, null_rate, 0.0, 0.0, 0.0, 0.0, [])
    finite.sort()
    return NumericProfile(
        count=len(finite),
        null_rate=null_rate,
        mean=float(finite.mean()),
        std=float(finite.std()),
        min=float(finite[0]),
        max=float(finite[-1]),
        quantiles=sorted_quantiles(finite).tolist(),
    )


def sorted_quantiles(ordered: np.ndarray) -> np.ndarray:
    """:func:`quantile_grid` quantiles of already sorted values (linear interpolation)."""
    positions = quantile_grid() * (len(ordered) - 1)
    below = np.floor(positions).astype(np.int64)
    above = np.minimum(below + 1, len(ordered) - 1)
    weight = positions - below
    result: np.ndarray = ordered[below] * (1 - weight) + ordered[above] * weight
    return result


def category_counts(values: pa.Array) -> tuple[dict[str, int], int]:
    """Counts per category and the number of nulls."""
    counted = pc.value_counts(values.drop_null())
    names = counted.field("values").to_pylist()
    counts = counted.field("counts").to_pylist()
    return dict(zip(names, counts, strict=True)), values.null_count


def categorical_profile(values: pa.Array) -> CategoricalProfile:
    counts, nulls = category_counts(values)
    total = sum(counts.values())
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    frequencies = {name: n / total for name, n in top[:MAX_CATEGORIES]}
    rest = sum(n for _, n in top[MAX_CATEGORIES:])
    if rest:
        frequencies[OTHER] = rest / total
    return CategoricalProfile(
        count=total,
        null_rate=nulls / len(values) if len(values) else 0.0,
        frequencies=frequencies,
    )


def _own_importance(model: Any, features: list[str]) -> dict[str, float]:
    """The model's ``feature_importances_`` or ``|coef_|``, when there is one per feature."""
    for attribute in ("feature_importances_", "coef_"):
        raw = getattr(model, attribute, None)
        if raw is None:
            continue
        weights = np.abs(np.asarray(raw, float))
        weights = weights.sum(axis=0) if weights.ndim > 1 else weights
        names = list(getattr(model, "feature_names_in_", features))
        total = float(weights.sum())
        if len(names) == len(weights) and total > 0:
            return {n: float(w / total) for n, w in zip(names, weights, strict=True)}
    return {}


def _permutation_importance(model: Any, held_out: Any, features: list[str]) -> dict[str, float]:
    """How much the predicted probability moves when one feature's values are shuffled
    (mean absolute change, normalised to sum 1): works for any model with
    ``predict_proba``, a pipeline with encoders included, and needs no labels."""
    rows = held_out.iloc[:_PERMUTATION_ROWS].reset_index(drop=True)
    base = np.asarray(model.predict_proba(rows))[:, -1]
    rng = np.random.default_rng(0)
    moved = {}
    for name in features:
        shuffled = rows.copy()
        shuffled[name] = rng.permutation(shuffled[name].to_numpy())
        moved[name] = float(np.abs(np.asarray(model.predict_proba(shuffled))[:, -1] - base).mean())
    total = sum(moved.values())
    return {n: v / total for n, v in moved.items()} if total > 0 else {}


_PERMUTATION_ROWS = 2_000


def build_profile(
    training: pa.Table | Mapping[str, Any],
    *,
    features: list[str] | None = None,
    predictions: Any = None,
    model: Any = None,
    held_out: Any = None,
    metrics: Mapping[str, float] | None = None,
) -> ReferenceProfile:
    """Profile ``features`` (default: every column) of ``training``; ``predictions`` are
    the model's scores on the held-out set; ``model`` gives the feature importance: its
    own when it has one value per feature, else permutation importance on ``held_out``
    (a pandas frame of the features, as the model takes them).

    >>> profile = build_profile(train_table, predictions=model.predict_proba(x_test)[:, 1],
    ...                         model=model)  # doctest: +SKIP
    """
    columns = training.column_names if isinstance(training, pa.Table) else list(training)
    names = list(features or columns)
    profiles: dict[str, FeatureProfile] = {}
    rows = 0
    for name in names:
        raw = training.column(name) if isinstance(training, pa.Table) else training[name]
        values = column_values(raw)
        rows = max(rows, len(values))
        if isinstance(values, np.ndarray):
            profiles[name] = numeric_profile(values)
        else:
            profiles[name] = categorical_profile(values)
    prediction = None
    if predictions is not None:
        prediction = numeric_profile(np.array(predictions, float).reshape(-1))
    importance: dict[str, float] = {}
    source = ""
    if model is not None:
        importance = _own_importance(model, names)
        source = "model" if importance else ""
        if not importance and held_out is not None and hasattr(model, "predict_proba"):
            importance = _permutation_importance(model, held_out, names)
            source = "permutation" if importance else ""
    return ReferenceProfile(rows, profiles, prediction, importance, source, dict(metrics or {}))

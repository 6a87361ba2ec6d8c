"""Fairness of a classifier across a declared sensitive attribute, overall and per segment.

Two parities, computed with fairlearn's :class:`~fairlearn.metrics.MetricFrame` at the
decision threshold:

- **selection rate** (demographic parity): the share of each group predicted positive;
  reported as the ratio of the lowest to the highest rate (the "four-fifths rule" asks
  >= 0.8) and as their difference;
- **true-positive rate** (equal opportunity): the share of each group's actual positives
  the model finds; reported as the difference of the highest and lowest rate.

Both are computed over all rows and again inside each value of every declared segment
(``plan=basic``: is the model fair across regions *among basic customers*?). Groups with
fewer than ``min_group_rows`` rows (or, for the true-positive rate, fewer than a third as
many actual positives) are listed but left out of the parity, which they would only make
noisy.

>>> report = fairness(y, p, {"region": regions}, segments={"plan": plans})  # doctest: +SKIP
>>> report["region"]["overall"]["selection_rate_ratio"]  # doctest: +SKIP
0.86
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from modelward.errors import InputError

__all__ = ["fairness", "parity"]


def _rate(value: Any) -> float | None:
    v = float(value)
    return round(v, 6) if math.isfinite(v) else None


def parity(y_true: Any, y_pred: Any, groups: Any, *, min_group_rows: int = 30) -> dict[str, Any]:
    """Per-group selection and true-positive rates of 0/1 predictions, and their parity."""
    import numpy as np
    from fairlearn.metrics import (  # type: ignore[import-untyped]
        MetricFrame,
        count,
        selection_rate,
    )

    y = np.asarray(y_true).astype(int)
    pred = np.asarray(y_pred).astype(int)
    g = np.asarray([str(v) for v in groups])
    pd: Any = importlib.import_module("pandas")  # untyped

    def by(mask: Any) -> Any:
        # a Series, not an array: fairlearn squeezes a one-row array to no dimension at all
        return pd.Series(g[mask], name="group")

    everyone = np.ones(len(g), dtype=bool)
    rates = MetricFrame(
        metrics={"selection_rate": selection_rate, "n": count},
        y_true=y,
        y_pred=pred,
        sensitive_features=by(everyone),
    ).by_group
    # the true-positive rate is the selection rate among actual positives; computed so, a
    # group without positives has no rate instead of failing the whole frame
    hit = y == 1
    tpr = (
        MetricFrame(
            metrics=selection_rate, y_true=y[hit], y_pred=pred[hit], sensitive_features=by(hit)
        ).by_group
        if hit.any()
        else {}
    )
    out: dict[str, dict[str, Any]] = {}
    for name, row in rates.iterrows():
        key = str(name)
        positives = int(y[g == key].sum())
        out[key] = {
            "n": int(row["n"]),
            "positives": positives,
            "selection_rate": _rate(row["selection_rate"]),
            "true_positive_rate": _rate(tpr[name]) if positives else None,
        }
    judged = [k for k, v in out.items() if v["n"] >= min_group_rows]
    # a true-positive rate needs actual positives to mean anything: a third of the rows
    with_pos = [k for k in judged if out[k]["positives"] >= max(1, min_group_rows // 3)]
    selected = [out[k]["selection_rate"] for k in judged if out[k]["selection_rate"] is not None]
    tprs = [
        out[k]["true_positive_rate"] for k in with_pos if out[k]["true_positive_rate"] is not None
    ]
    result: dict[str, Any] = {
        "groups": out,
        "judged_groups": sorted(judged),
        "selection_rate_ratio": None,
        "selection_rate_difference": None,
        "true_positive_rate_difference": None,
    }
    if len(selected) >= 2:
        high = max(selected)
        result["selection_rate_difference"] = round(high - min(selected), 6)
        # nobody selected anywhere is parity too
        result["selection_rate_ratio"] = round(min(selected) / high, 6) if high > 0 else 1.0
    if len(tprs) >= 2:
        result["true_positive_rate_difference"] = round(max(tprs) - min(tprs), 6)
    return result


def fairness(
    y_true: Sequence[int] | Any,
    y_prob: Sequence[float] | Any,
    sensitive: Mapping[str, Sequence[Any]],
    *,
    segments: Mapping[str, Sequence[Any]] | None = None,
    threshold: float = 0.5,
    min_group_rows: int = 30,
) -> dict[str, Any]:
    """``{attribute: {"overall": parity, "segments": {"plan=basic": parity, ...}}}``."""
    import numpy as np

    y = np.asarray(y_true).astype(int)
    pred = (np.asarray(y_prob, dtype=float) >= threshold).astype(int)
    out: dict[str, Any] = {}
    for attribute, values in sensitive.items():
        groups = np.asarray([str(v) for v in values])
        if len(groups) != len(y):
            raise InputError(
                f"fairness: sensitive attribute {attribute!r} has {len(groups)} values for "
                f"{len(y)} rows",
                attribute=attribute,
            )
        per_segment: dict[str, Any] = {}
        for column, seg_values in (segments or {}).items():
            if column == attribute:
                continue
            seg = np.asarray([str(v) for v in seg_values])
            for value in sorted(set(seg.tolist())):
                mask = seg == value
                per_segment[f"{column}={value}"] = parity(
                    y[mask], pred[mask], groups[mask], min_group_rows=min_group_rows
                )
        out[attribute] = {
            "threshold": threshold,
            "overall": parity(y, pred, groups, min_group_rows=min_group_rows),
            "segments": per_segment,
        }
    return out

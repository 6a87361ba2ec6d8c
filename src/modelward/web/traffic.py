"""An endpoint's traffic over time, from a prediction log window (Arrow), for its charts.

One pass over the window's ``at_us``, ``latency_ms``, ``error`` and ``degraded`` columns in
NumPy: per time bucket the request count, the latency percentiles and the error and
fallback counts. The window is whatever the log's public ``read_window`` returned, so
every sink (SQLite, Redis, memory) is drawn the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.compute as pc

__all__ = ["TRAFFIC_COLUMNS", "Traffic", "traffic_of"]

#: the window columns :func:`traffic_of` reads: a reader asks the log for these only, so
#: no request's inputs or prediction are decoded to draw the charts
TRAFFIC_COLUMNS = ("at_us", "latency_ms", "error", "degraded", "model", "model_version")


@dataclass(frozen=True)
class Traffic:
    """Per bucket (``starts`` in epoch seconds): what the endpoint page draws."""

    bucket_s: int
    starts: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p95: list[float | None] = field(default_factory=list)
    p99: list[float | None] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    fallbacks: list[int] = field(default_factory=list)
    #: answers per model version in the whole window ("churn@3" -> count)
    by_version: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.requests)

    def overall(self) -> dict[str, Any]:
        """Totals of the window, for the summary line above the charts."""
        total = self.total
        return {
            "requests": total,
            "errors": sum(self.errors),
            "fallbacks": sum(self.fallbacks),
            "error_rate": sum(self.errors) / total if total else None,
            "fallback_rate": sum(self.fallbacks) / total if total else None,
        }


def traffic_of(window: Any, *, start_s: float, end_s: float, bucket_s: int = 60) -> Traffic:
    """Bucket ``window`` (a prediction log window) into ``bucket_s`` slices of the span."""
    buckets = max(1, int(np.ceil((end_s - start_s) / bucket_s)))
    starts = [start_s + i * bucket_s for i in range(buckets)]
    if window.num_rows == 0:
        zeros = [0] * buckets
        nones: list[float | None] = [None] * buckets
        return Traffic(bucket_s, starts, zeros, nones, nones, nones, zeros, zeros, {})
    at = window.column("at_us").to_numpy(zero_copy_only=False) / 1e6
    latency = window.column("latency_ms").to_numpy(zero_copy_only=False).astype(float)
    # an answered row carries an empty error; a failed one names the problem
    errored = pc.fill_null(pc.not_equal(window.column("error"), ""), False).to_numpy(
        zero_copy_only=False
    )
    degraded = window.column("degraded").to_numpy(zero_copy_only=False).astype(bool)
    index = np.clip(((at - start_s) // bucket_s).astype(np.int64), 0, buckets - 1)
    order = np.argsort(index, kind="stable")
    index, latency = index[order], latency[order]
    counts = np.bincount(index, minlength=buckets)
    errors = np.bincount(index, weights=errored[order], minlength=buckets)
    fallbacks = np.bincount(index, weights=degraded[order], minlength=buckets)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    p50: list[float | None] = []
    p95: list[float | None] = []
    p99: list[float | None] = []
    for i in range(buckets):
        chunk = latency[bounds[i] : bounds[i + 1]]
        chunk = chunk[np.isfinite(chunk)]
        if chunk.size == 0:
            p50.append(None)
            p95.append(None)
            p99.append(None)
            continue
        q50, q95, q99 = np.percentile(chunk, [50, 95, 99])
        p50.append(float(q50))
        p95.append(float(q95))
        p99.append(float(q99))
    grouped = window.group_by(["model", "model_version"]).aggregate([("at_us", "count")])
    by_version = {
        f"{m}@{v}": int(n)
        for m, v, n in zip(
            grouped.column("model").to_pylist(),
            grouped.column("model_version").to_pylist(),
            grouped.column("at_us_count").to_pylist(),
            strict=True,
        )
    }
    return Traffic(
        bucket_s,
        starts,
        [int(c) for c in counts],
        p50,
        p95,
        p99,
        [int(e) for e in errors],
        [int(f) for f in fallbacks],
        dict(sorted(by_version.items())),
    )

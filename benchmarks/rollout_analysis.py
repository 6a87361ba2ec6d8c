"""What a release's analysis and the shadow report cost, beside the raw limit on the same data.

The controller judges each live release every interval, and the shadow report reads a
release's whole life; both start from a window of the prediction log (monitoring's Arrow
shape). On seeded synthetic traffic (``--requests`` requests in the window):

- the judge: ``window_samples`` + ``judge`` with the default metrics, and with the tail
  and segment metrics added (``latency_p95``, ``latency_p99``, ``segment_score`` by
  plan), against the raw limit: the same statistical tests (two rate tests, two
  Mann-Whitney U, two quantiles) called on NumPy arrays already extracted;
- the shadow report (``shadow_report_window``) on as many mirrored requests, against the
  raw limit: a bare PyArrow join of primary and shadow rows on the request id and a
  vectorised disagreement rate by plan.

Wall time, best of ``--repeat`` rounds, in process. Prints a Rich table and JSON; writes
benchmarks/results/rollout_analysis.json.

    python benchmarks/rollout_analysis.py [--requests 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table
from scipy import stats  # type: ignore[import-untyped]

from modelward.monitoring import PredictionRecord
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.rollout import RolloutPolicy, TrafficPlan, judge, shadow_report_window
from modelward.rollout.analysis import window_samples

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PLANS = ("basic", "pro", "enterprise")


def _traffic(plan: TrafficPlan, n: int, seed: int) -> list[PredictionRecord]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        route = plan.route(f"customer-{i}")
        inputs = {"plan": PLANS[i % 3], "tenure": float(rng.integers(0, 60))}
        score = float(rng.beta(2, 5))
        latency = float(rng.lognormal(np.log(20), 0.4))
        error = "ModelUnavailable" if rng.random() < 0.005 else ""
        rows.append(
            PredictionRecord(
                f"r{i}", 1_000 + i, "churn", "churn", route.version.split("@")[1], inputs,
                None if error else score, latency, False, role=route.role,
                release_id=plan.release_id, error=error,
            )
        )  # fmt: skip
        if route.shadow is not None:
            copy = 1.0 - score if inputs["plan"] == "pro" else score
            rows.append(
                PredictionRecord(
                    f"r{i}", 1_000 + i, "churn", "churn", "3", inputs, copy, latency + 5,
                    False, role="shadow", release_id=plan.release_id,
                )
            )  # fmt: skip
    return rows


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _raw_judge(window: pa.Table) -> None:
    """The same tests on arrays already extracted: the statistics alone."""
    role = window.column("role")
    arms = [window.filter(pc.equal(role, r)) for r in ("primary", "candidate")]
    lat = [a.column("latency_ms").to_numpy() for a in arms]
    scores = [a.column("prediction").to_numpy(zero_copy_only=False) for a in arms]
    scores = [s[~np.isnan(s.astype(float))] for s in scores]
    for _ in range(2):  # error rate, fallback rate
        stats.norm.sf(0.1)
    stats.mannwhitneyu(lat[1], lat[0] + 5, alternative="greater")
    stats.mannwhitneyu(scores[1], scores[0], alternative="two-sided")
    np.quantile(lat[0], [0.95, 0.99])
    np.quantile(lat[1], [0.95, 0.99])


def _raw_shadow(window: pa.Table) -> float:
    role = window.column("role")
    primary = window.filter(pc.equal(role, "primary")).select(["request_id", "prediction"])
    shadow = window.filter(pc.equal(role, "shadow")).select(["request_id", "prediction"])
    joined = primary.join(shadow.rename_columns(["request_id", "copy"]), "request_id")
    a = pc.greater_equal(joined.column("prediction"), 0.5)
    b = pc.greater_equal(joined.column("copy"), 0.5)
    return float(pc.mean(pc.not_equal(a, b).cast(pa.float64())).as_py() or 0.0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n, repeat = args.requests, args.repeat

    canary = TrafficPlan.canary("churn@2", "churn@3", weight=20, release_id="rel-c")
    shadow = TrafficPlan.shadow("churn@2", "churn@3", percent=100, release_id="rel-s")
    sink = MemoryPredictionSink()
    sink.write(_traffic(canary, n, seed=1))
    canary_window = sink.read_window("churn")
    sink = MemoryPredictionSink()
    sink.write(_traffic(shadow, n, seed=2))
    shadow_window = sink.read_window("churn")

    default = RolloutPolicy(min_sample=500)
    full = RolloutPolicy(
        min_sample=500,
        metrics=[
            *default.metrics,
            {"metric": "latency_p95"},
            {"metric": "latency_p99"},
            {"metric": "segment_score", "segment": "plan"},
        ],
    )

    def ours(policy: RolloutPolicy) -> Callable[[], object]:
        def run() -> object:
            arms = window_samples(canary_window, "rel-c", segments=policy.segment_fields)
            return judge(*arms, policy)

        return run

    def report() -> object:
        return shadow_report_window(
            shadow_window, endpoint="churn", release_id="rel-s", baseline="churn@2",
            candidate="churn@3",
        )  # fmt: skip

    rows = [
        ("judge, default metrics", _best(ours(default), repeat)),
        ("judge, + p95, p99, segment_score", _best(ours(full), repeat)),
        ("raw limit: the tests on extracted arrays", _best(lambda: _raw_judge(canary_window), repeat)),
        ("shadow report", _best(report, repeat)),
        ("raw limit: Arrow join + disagreement rate", _best(lambda: _raw_shadow(shadow_window), repeat)),
    ]  # fmt: skip
    load = os.getloadavg()
    result = {
        "requests": n,
        "canary_window_rows": canary_window.num_rows,
        "shadow_window_rows": shadow_window.num_rows,
        "load_average": [round(x, 2) for x in load],
        "seconds": {name: round(s, 5) for name, s in rows},
    }
    table = Table(title=f"rollout analysis, {n:,} requests (load {load[0]:.1f})")
    table.add_column("what")
    table.add_column("ms", justify="right")
    for name, seconds in rows:
        table.add_row(name, f"{seconds * 1000:.1f}")
    Console(stderr=True).print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rollout_analysis.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

"""The confidence interval on a candidate's gain: modelward's path against the plain one.

modelward: ``pipelines.evaluation.gain_interval`` (``scipy.stats.bootstrap``, paired,
percentile, the metric vectorised over resamples). Plain: the same bootstrap with
scikit-learn's metric called once per resample (what one writes first). Both on the same
held-out rows with the same seed, so their intervals must agree; CPU seconds are the
process's own (``time.process_time``), the steadier figure on a shared machine.

    python benchmarks/gain_interval.py [--rows 9000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy import stats
from sklearn.metrics import roc_auc_score

from modelward.pipelines.evaluation import gain_interval

RESULTS = Path(__file__).resolve().parent / "results"


def _plain(y: Any, a: Any, b: Any, resamples: int, seed: int) -> tuple[float, float]:
    def gain(yy: Any, pa: Any, pb: Any) -> float:
        if yy.min() == yy.max():
            return float("nan")
        return float(roc_auc_score(yy, pa) - roc_auc_score(yy, pb))

    result = stats.bootstrap(
        (y, a, b),
        gain,
        paired=True,
        vectorized=False,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return round(float(low), 6), round(float(high), 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=9_000)
    parser.add_argument("--resamples", type=int, default=1_000)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    y = (rng.random(args.rows) < 0.07).astype(int)
    a = np.clip(0.3 * y + 0.7 * rng.random(args.rows), 0, 1)
    b = np.clip(0.28 * y + 0.72 * rng.random(args.rows), 0, 1)
    rows = []
    for name, run in (
        ("modelward gain_interval", lambda: gain_interval(y, a, b, resamples=args.resamples)),
        ("plain (sklearn per resample)", lambda: _plain(y, a, b, args.resamples, 7)),
    ):
        cpu, wall = time.process_time(), time.perf_counter()
        out = run()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        low, high = (out.low, out.high) if hasattr(out, "low") else out
        rows.append(
            {
                "path": name,
                "cpu_s": round(cpu, 2),
                "wall_s": round(wall, 2),
                "low": low,
                "high": high,
            }
        )
    table = Table(title=f"gain interval, {args.rows:,} rows, {args.resamples:,} resamples")
    for col in ("path", "cpu s", "wall s", "low", "high"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["path"],
            f"{r['cpu_s']:.2f}",
            f"{r['wall_s']:.2f}",
            f"{r['low']:+.6f}",
            f"{r['high']:+.6f}",
        )
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    result = {"rows": args.rows, "resamples": args.resamples, "runs": rows}
    (RESULTS / "gain_interval.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Drift over 20 columns: modelward's profile + effect-size verdict against plain scipy tests.

Data: 20 columns per side, 15 undrifted (normal, log-normal, Poisson counts, uniform,
categories) and 5 with planted drift: three numbers shifted by 0.2 standard deviations
and two categorical columns with 0.15 of the probability mass moved between two
categories. modelward: ``build_profile`` on the reference (what registration stores) then
``detect_drift`` of the window against it. Plain: ``scipy.stats.ks_2samp`` per numeric
column and ``chi2_contingency`` on the category counts, flagged at p < 0.05 (what one
writes first). Both are judged on the same data: false positives are clean columns
flagged, false negatives planted columns missed. Then 20 seeds of two samples of the same
distribution: how many columns each flags (the goal is none). Peak memory is the traced
allocation peak of the run (``tracemalloc``, numpy included), timed in a separate run.

    python benchmarks/drift.py [--rows 100000 1000000] [--seeds 20]
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table
from scipy import stats

from modelward.monitoring import build_profile, detect_drift

RESULTS = Path(__file__).resolve().parent / "results"
CATEGORIES = ["basic", "pro", "enterprise", "trial"]
BASE_P = np.array([0.45, 0.30, 0.15, 0.10])
#: 0.15 of the mass moved from the first category to the second
SHIFTED_P = np.array([0.30, 0.45, 0.15, 0.10])


def _numeric(kind: int, rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
    """One of four numeric shapes, shifted by ``shift`` of its standard deviation."""
    if kind == 0:
        return rng.normal(50.0, 10.0, n) + shift * 10.0
    if kind == 1:
        sd = float(np.sqrt((np.e - 1) * np.e))  # of lognormal(0, 1)
        return rng.lognormal(0.0, 1.0, n) + shift * sd
    if kind == 2:
        return rng.poisson(4.0, n) + shift * 2.0
    return rng.uniform(0.0, 1.0, n) + shift * float(np.sqrt(1 / 12))


def make_side(rng: np.random.Generator, n: int, drift: bool) -> tuple[dict[str, Any], set[str]]:
    """20 columns; ``drift`` plants it on five of them (returned as the second item)."""
    columns: dict[str, Any] = {}
    planted: set[str] = set()
    for i in range(15):  # numbers: 12 clean, the last 3 drifted
        shifted = drift and i >= 12
        name = f"num_{i:02d}"
        columns[name] = _numeric(i % 4, rng, n, 0.2 if shifted else 0.0)
        if i >= 12:
            planted.add(name)
    for i in range(5):  # categories: 3 clean, the last 2 drifted
        name = f"cat_{i}"
        p = SHIFTED_P if drift and i >= 3 else BASE_P
        codes = rng.choice(len(CATEGORIES), n, p=p)
        columns[name] = pa.DictionaryArray.from_arrays(
            pa.array(codes, pa.int32()), pa.array(CATEGORIES)
        ).cast(pa.string())
        if i >= 3:
            planted.add(name)
    return columns, planted


def modelward_flags(reference: dict[str, Any], window: dict[str, Any]) -> set[str]:
    report = detect_drift(build_profile(reference), window)
    return set(report.drifted)


def plain_flags(reference: dict[str, Any], window: dict[str, Any]) -> set[str]:
    flagged = set()
    for name, ref in reference.items():
        win = window[name]
        if isinstance(ref, np.ndarray):
            p = stats.ks_2samp(ref, win).pvalue
        else:
            a, b = pc.value_counts(ref), pc.value_counts(win)
            counts_a = dict(
                zip(a.field("values").to_pylist(), a.field("counts").to_pylist(), strict=True)
            )
            counts_b = dict(
                zip(b.field("values").to_pylist(), b.field("counts").to_pylist(), strict=True)
            )
            keys = sorted(set(counts_a) | set(counts_b))
            table = [[counts_a.get(k, 0) for k in keys], [counts_b.get(k, 0) for k in keys]]
            p = stats.chi2_contingency(table).pvalue
        if p < 0.05:
            flagged.add(name)
    return flagged


def _measure(
    run: Callable[[dict[str, Any], dict[str, Any]], set[str]],
    reference: dict[str, Any],
    window: dict[str, Any],
) -> tuple[set[str], float, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    flags = run(reference, window)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    tracemalloc.start()
    run(reference, window)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return flags, cpu, wall, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--seed-rows", type=int, default=100_000)
    args = parser.parse_args()
    runs = []
    for n in args.rows:
        rng = np.random.default_rng(n)
        reference, _ = make_side(rng, n, drift=False)
        window, planted = make_side(rng, n, drift=True)
        for name, fn in (("modelward", modelward_flags), ("plain scipy", plain_flags)):
            flags, cpu, wall, peak = _measure(fn, reference, window)
            runs.append(
                {
                    "rows_per_side": n,
                    "path": name,
                    "cpu_s": round(cpu, 2),
                    "wall_s": round(wall, 2),
                    "peak_mib": round(peak, 1),
                    "false_positives": sorted(flags - planted),
                    "false_negatives": sorted(planted - flags),
                }
            )
        del reference, window
    same: dict[str, list[int]] = {"modelward": [], "plain scipy": []}
    for seed in range(args.seeds):
        rng = np.random.default_rng(1_000 + seed)
        a, _ = make_side(rng, args.seed_rows, drift=False)
        b, _ = make_side(rng, args.seed_rows, drift=False)
        same["modelward"].append(len(modelward_flags(a, b)))
        same["plain scipy"].append(len(plain_flags(a, b)))
    table = Table(title="drift over 20 columns (5 planted), CPU s of this process")
    for col in ("rows/side", "path", "cpu s", "wall s", "peak MiB", "false +", "false -"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            f"{r['rows_per_side']:,}",
            r["path"],
            f"{r['cpu_s']:.2f}",
            f"{r['wall_s']:.2f}",
            f"{r['peak_mib']:.0f}",
            str(len(r["false_positives"])),
            str(len(r["false_negatives"])),
        )
    console = Console()
    console.print(table)
    for name, counts in same.items():
        console.print(
            f"{name}: {args.seeds} same-distribution pairs of {args.seed_rows:,} rows: "
            f"{sum(1 for c in counts if c)} with an alert, {sum(counts)} columns flagged"
        )
    RESULTS.mkdir(exist_ok=True)
    result = {"runs": runs, "same_distribution": {"rows": args.seed_rows, "flags": same}}
    (RESULTS / "drift.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

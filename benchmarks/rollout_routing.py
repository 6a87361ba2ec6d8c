"""What rollout's routing decision costs per request, beside no decision at all.

The gateway asks :meth:`modelward.rollout.TrafficPlan.route` once per request: which
version answers, and which shadows it. This measures the CPU time of that call (and of
picking the sticky key from the request's fields) in process, over ``--requests``
distinct customers, for:

- none: the loop with a fixed answer (what a single-version endpoint does today: the
  raw limit);
- the bare keyed BLAKE2b hash of the key (the one piece of work a split plan does);
- ``single``: a plan with one version (no hash);
- ``canary`` at 5 % and 50 % (two versions, one hash), with and without the sticky-key
  lookup from the request fields;
- ``shadow`` at 100 % (the answer and a mirror).

CPU time (``time.process_time_ns``), best of ``--repeat`` rounds. Prints a Rich table and
JSON; writes benchmarks/results/rollout_routing.json.

    python benchmarks/rollout_routing.py [--requests 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from modelward.rollout import Route, TrafficPlan

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _cpu_ns_per_call(fn: Callable[[str], object], keys: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time_ns()
        for key in keys:
            fn(key)
        best = min(best, (time.process_time_ns() - start) / len(keys))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    keys = [f"customer-{i}" for i in range(args.requests)]
    fields = [{"customer_id": i, "discount": 0.1} for i in range(args.requests)]
    fixed = Route("churn@2", "primary", None, "")
    salt = hashlib.blake2b(b"rel-1", digest_size=16).digest()
    single = TrafficPlan.single("churn@2")
    canary5 = TrafficPlan.canary("churn@2", "churn@3", weight=5, release_id="rel-1")
    canary50 = TrafficPlan.canary("churn@2", "churn@3", weight=50, release_id="rel-1")
    shadow = TrafficPlan.shadow("churn@2", "churn@3", percent=100, release_id="rel-1")
    by_index = dict(zip(keys, fields, strict=True))

    def sticky_canary(key: str) -> Route:
        return canary5.route(canary5.sticky_key(by_index[key], key, "customer_id"))

    def lookup_only(key: str) -> object:
        return by_index[key]

    cases: list[tuple[str, Callable[[str], object]]] = [
        ("none (fixed answer)", lambda key: fixed),
        ("bare keyed blake2b", lambda key: hashlib.blake2b(key.encode(), digest_size=8, key=salt)),
        ("single", single.route),
        ("canary 5%", canary5.route),
        ("canary 50%", canary50.route),
        ("shadow 100%", shadow.route),
        ("dict lookup (sticky baseline)", lookup_only),
        ("canary 5% + sticky key", sticky_canary),
    ]
    measured = {name: _cpu_ns_per_call(fn, keys, args.repeat) for name, fn in cases}
    none = measured["none (fixed answer)"]
    lookup = measured["dict lookup (sticky baseline)"]
    rows = []
    for name, ns in measured.items():
        base = lookup if name == "canary 5% + sticky key" else none
        rows.append(
            {"case": name, "ns_per_request": round(ns, 1), "over_none_ns": round(ns - base, 1)}
        )

    table = Table(
        title=f"routing decision, CPU per request ({args.requests:,} keys, best of {args.repeat})"
    )
    for column in ("case", "ns / request", "added vs none"):
        table.add_column(column, justify="right" if column != "case" else "left")
    for row in rows:
        table.add_row(row["case"], f"{row['ns_per_request']:.0f}", f"{row['over_none_ns']:.0f}")
    Console(stderr=True).print(table)
    result = {
        "benchmark": "rollout_routing",
        "requests": args.requests,
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "cases": rows,
        "budget_us": 20,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rollout_routing.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

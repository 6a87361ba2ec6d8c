"""What a live release costs the endpoint's own traffic, through ``modelward serve`` under wrk.

One ``modelward serve`` process (1 worker, the defaults: micro-batching on, the model on
its own thread, the prediction log on) serves three endpoints that differ only in their
release, all on the benchmark GBM of ``benchmarks/gateway.py`` (100 trees, depth 3, 20
numeric inputs, single-row JSON):

* ``none``: no release: ``bench@1`` alone — the limit the others are held to;
* ``canary``: a canary of ``bench@2`` at 50 % (two warm runtimes, the sticky hash per
  request; the steps' interval is a day, so the plan does not move while it is measured);
* ``shadow``: ``bench@2`` in shadow at 100 % (every request also scored, off the answer
  path, and logged with role ``shadow``).

The candidate is a second GBM fitted with another seed. Its lineage is marked complete in
the registry's table, as a release refuses a candidate whose lineage gate fails and lineage
is not what this measures.

Each round sends ``wrk`` (closed loop, ``--concurrency`` connections, ``--duration`` s,
after a 2 s warm-up) to each endpoint in turn, the order rotated per round; a first pass,
not recorded, warms all three. The table holds each case's median and its median ratio to
``none`` *of the same round*. One server for all three: the cases share the process, its
warm caches and its place on the machine, so the ratios hold only what the release adds.
Server CPU per request is the server's user+system time over the requests it answered;
beside it, the server's context switches per request (every thread of the process tree:
each hand-over of a request between threads costs some) and the model calls per request
and rows per model call, overall and per version (the gateway's own
``modelward_gateway_batch_rows`` histogram, shadow copies included): requests that wait
together share one call of their version's model.
Targets (issue 10): a 50 % canary >= 0.95x the throughput of no release at c=32 (routing
<= 20 us CPU is measured by ``benchmarks/rollout_routing.py``); a 100 % shadow's primary
p99 <= 1.1x no release.

    python benchmarks/rollout_serve.py                         # ~3 minutes
    python benchmarks/rollout_serve.py --duration 10 --rounds 5

Prints a Rich table and JSON; writes ``benchmarks/results/rollout_serve.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))  # the sibling module gateway (workspace, server, wrk)

import gateway as bench  # noqa: E402

CASES = ("none", "canary", "shadow")
# the steps' interval and the deadline are a day: no analysis moves the plan mid-measure
HOLD = {"interval_s": 86_400, "inconclusive_deadline_s": 86_400, "on_deadline": "hold"}


def add_releases(setup: dict[str, Any], work: Path) -> None:
    """``bench@2``, and one endpoint per case with its release started."""
    import warnings

    warnings.filterwarnings("ignore")
    import mlflow
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier
    from sqlalchemy import update

    from modelward import rollout
    from modelward.registry import tracking, versions
    from modelward.registry.serialization import trusted_types_for
    from modelward.registry.tables import model_versions
    from modelward.security.roles import Principal, Role
    from modelward.serving import create_endpoint, parse_spec
    from modelward.session import open_session

    rng = np.random.default_rng(1)
    x = rng.normal(size=(5_000, bench.N_FEATURES))
    y = (x[:, :5].sum(axis=1) + rng.normal(size=5_000) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=1).fit(x, y)
    admin = Principal("bench", Role.ADMIN)
    plain = {f"f{i}": "float" for i in range(bench.N_FEATURES)}
    env = {"MODELWARD_IDENTITY__USER": "bench"}
    with open_session(setup["root"], environ=env) as session:
        with tracking.using_workspace(session.workspace), mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model, name="model", skops_trusted_types=trusted_types_for(model)
            )
        candidate = versions.register(session, "bench", model_uri=info.model_uri)
        with session.store.transaction() as conn:
            conn.execute(
                update(model_versions)
                .where(model_versions.c.model_name == "bench")
                .where(model_versions.c.version == candidate.version)
                .values(lineage_complete=True, lineage_missing=[])
            )
        for case in CASES:
            spec = {"name": f"release-{case}", "request": plain, "batching": True}
            spec |= {"model": "bench@1", "latency_budget_ms": 1000}
            create_endpoint(session, admin, parse_spec(spec))
        policy = rollout.RolloutPolicy(steps=[50, 100], **HOLD)
        for case, strategy in (("canary", "canary"), ("shadow", "shadow")):
            rollout.start_release(
                session,
                admin,
                endpoint=f"release-{case}",
                baseline="bench@1",
                candidate=candidate.ref,
                strategy=strategy,
                policy=policy,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per point")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    console = Console(width=150)
    if shutil.which("wrk") is None:
        console.print("wrk is not installed (apt-get install -y wrk): using the built-in client")
    work = Path(tempfile.mkdtemp(prefix="mw-bench-rollout-"))
    console.print(f"building the workspace in {work} ...")
    setup = bench.build(work)
    add_releases(setup, work)
    proc, base = bench.start("gateway", 1, setup, work / "serve.log")
    import httpx

    ready = httpx.get(base + "/readyz").json()
    row = {f"f{i}": round(0.1 * i - 0.9, 3) for i in range(bench.N_FEATURES)}
    body = json.dumps({"inputs": row}).encode()
    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        for case in CASES:  # a first pass, not recorded: whichever case ran first lost
            path = f"/v1/endpoints/release-{case}/predict"
            bench.run_wrk(base, path, body, setup["token"], args.concurrency, 3, work)
        for r in range(args.rounds):
            order = CASES[r % len(CASES) :] + CASES[: r % len(CASES)]
            got: dict[str, dict[str, Any]] = {}
            for case in order:
                path = f"/v1/endpoints/release-{case}/predict"
                bench.run_wrk(base, path, body, setup["token"], args.concurrency, 2, work)
                cpu0, switches0 = bench.tree_cpu_s(proc.pid), tree_switches(proc.pid)
                calls0 = model_calls(base, setup["token"], f"release-{case}")
                point = bench.run_wrk(
                    base, path, body, setup["token"], args.concurrency, args.duration, work
                )
                cpu = bench.tree_cpu_s(proc.pid) - cpu0
                answered = max(point["requests"], 1)
                point["cpu_us_per_request"] = cpu / answered * 1e6
                point["switches_per_request"] = (tree_switches(proc.pid) - switches0) / answered
                calls = model_calls(base, setup["token"], f"release-{case}")
                point |= _call_counts(calls0, calls, answered)
                point["load_average"] = os.getloadavg()[0]
                got[case] = point
                console.print(
                    f"round {r + 1} {case:7} {point['rps']:>8.0f} req/s  p50 "
                    f"{point['p50_ms']:.2f} ms  p99 {point['p99_ms']:.2f} ms  cpu "
                    f"{point['cpu_us_per_request']:.0f} us/req  "
                    f"{point['switches_per_request']:.1f} switches/req  "
                    f"{point['model_calls_per_request']:.2f} calls/req "
                    f"({point['rows_per_call']:.2f} rows/call)  non-2xx {point['non_2xx']}  "
                    f"load {point['load_average']:.1f}"
                )
            rounds.append(got)
        shadow_counts = _shadow_rows(base, setup["token"])
    finally:
        bench.stop(proc)
    result = _summary(rounds, args, ready, shadow_counts)
    _print(console, result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rollout_serve.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    shutil.rmtree(work, ignore_errors=True)


def tree_switches(pid: int) -> int:
    """Context switches (voluntary or not) of every thread of ``pid`` and its descendants:
    each hand-over of a request between threads (loop -> model thread -> loop) costs some."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        for status in Path(f"/proc/{p}/task").glob("*/status"):
            try:
                lines = status.read_text().splitlines()
            except OSError:  # the thread ended meanwhile
                continue
            total += sum(int(ln.split()[1]) for ln in lines if "ctxt_switches:" in ln)
    return total


def model_calls(base: str, token: str, endpoint: str) -> dict[str, tuple[float, float]]:
    """Per model version of ``endpoint``: (rows scored, model calls) so far, the gateway's
    own ``modelward_gateway_batch_rows`` histogram (shadow copies included)."""
    import re

    import httpx

    text = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {token}"}).text
    got: dict[str, list[float]] = {}
    pattern = r'modelward_gateway_batch_rows_(sum|count)\{endpoint="([^"]+)",model_version="([^"]+)"\} (\S+)'
    for part, name, version, value in re.findall(pattern, text):
        if name == endpoint:
            got.setdefault(version, [0.0, 0.0])[0 if part == "sum" else 1] = float(value)
    return {v: (rows, calls) for v, (rows, calls) in got.items()}


def _call_counts(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]], answered: int
) -> dict[str, Any]:
    """Model calls per request and rows per call over one point, overall and per version."""
    per_version = {}
    for version, (rows, calls) in after.items():
        rows0, calls0 = before.get(version, (0.0, 0.0))
        per_version[version] = {
            "calls_per_request": (calls - calls0) / answered,
            "rows_per_call": (rows - rows0) / max(calls - calls0, 1),
        }
    rows = sum(a[0] - before.get(v, (0.0, 0.0))[0] for v, a in after.items())
    calls = sum(a[1] - before.get(v, (0.0, 0.0))[1] for v, a in after.items())
    return {
        "model_calls_per_request": calls / answered,
        "rows_per_call": rows / max(calls, 1),
        "by_version": per_version,
    }


def _shadow_rows(base: str, token: str) -> dict[str, float]:
    """The gateway's own count of shadow copies scored and dropped (its /metrics)."""
    import httpx

    text = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {token}"}).text
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("modelward_gateway_shadow_total"):
            name, _, value = line.rpartition(" ")
            counts[name] = float(value)
    return counts


def _summary(
    rounds: list[dict[str, dict[str, Any]]],
    args: argparse.Namespace,
    ready: dict[str, Any],
    shadow_counts: dict[str, float],
) -> dict[str, Any]:
    cases: dict[str, dict[str, float]] = {}
    for case in CASES:
        same = [r[case] for r in rounds]
        cases[case] = {
            key: statistics.median(p[key] for p in same)
            for key in (
                "rps",
                "p50_ms",
                "p99_ms",
                "cpu_us_per_request",
                "switches_per_request",
                "model_calls_per_request",
                "rows_per_call",
            )
        }
        cases[case]["non_2xx"] = sum(p["non_2xx"] for p in same)
        if case != "none":
            cases[case]["rps_vs_none"] = statistics.median(
                r[case]["rps"] / r["none"]["rps"] for r in rounds
            )
            cases[case]["p99_vs_none"] = statistics.median(
                r[case]["p99_ms"] / r["none"]["p99_ms"] for r in rounds
            )
    canary, shadow = cases["canary"], cases["shadow"]
    targets = [
        {
            "target": "canary 50% / none, req/s (c=32)",
            "measured": round(canary["rps_vs_none"], 3),
            "limit": ">= 0.95",
            "met": canary["rps_vs_none"] >= 0.95,
        },
        {
            "target": "shadow 100%: primary p99 / none",
            "measured": round(shadow["p99_vs_none"], 3),
            "limit": "<= 1.1",
            "met": shadow["p99_vs_none"] <= 1.1,
        },
    ]
    return {
        "duration_s": args.duration,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "client": "wrk" if shutil.which("wrk") else "builtin",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "readyz": {k: ready.get(k) for k in ("startup_s", "ready_after_load_s")},
        "cases": cases,
        "shadow_metrics": shadow_counts,
        "targets": targets,
        "every_round": rounds,
    }


def _print(console: Console, result: dict[str, Any]) -> None:
    table = Table(
        title=f"a live release's cost (modelward serve, 1 worker, wrk c={result['concurrency']}, "
        f"medians of {result['rounds']} rounds)"
    )
    for col in (
        "release",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU us/req",
        "switches/req",
        "model calls/req",
        "rows/call",
        "req/s vs none",
        "p99 vs none",
    ):
        table.add_column(col, justify="left" if col == "release" else "right")
    for case, p in result["cases"].items():
        table.add_row(
            case,
            f"{p['rps']:.0f}",
            f"{p['p50_ms']:.2f}",
            f"{p['p99_ms']:.2f}",
            f"{p['cpu_us_per_request']:.0f}",
            f"{p['switches_per_request']:.1f}",
            f"{p['model_calls_per_request']:.2f}",
            f"{p['rows_per_call']:.2f}",
            f"{p['rps_vs_none']:.2f}x" if "rps_vs_none" in p else "",
            f"{p['p99_vs_none']:.2f}x" if "p99_vs_none" in p else "",
        )
    console.print(table)
    checks = Table(title="targets (issue 10)")
    for col in ("target", "measured", "limit", "met"):
        checks.add_column(col)
    for t in result["targets"]:
        checks.add_row(t["target"], str(t["measured"]), t["limit"], "yes" if t["met"] else "no")
    console.print(checks)


if __name__ == "__main__":
    main()

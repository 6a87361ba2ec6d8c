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

CPU time (``time.process_time_ns``), best of ``--repeat`` rounds.

Then the same through the gateway, in process (an httpx ASGI client, ``--concurrency``
requests in flight, an in-memory logistic model, the in-memory prediction log): CPU per
request, throughput, the primary's p50/p99 latency and the answer path's model calls per
request for an endpoint with no release, a 50 % canary (two warm runtimes) and a 100 %
shadow (every request also scored off the response path, at most 256 copies in flight).
The cases run interleaved, ``--rounds`` times in a rotated order; the table holds each
case's median and its median ratio to the "no release" run of the same round. On a shared
machine those times move by tens of percent from round to round, so one more pass per
case counts the function calls made on the event loop thread per request (cProfile): the
work on the primary's path, which the load cannot move.

Prints Rich tables and JSON; writes benchmarks/results/rollout_routing.json.

    python benchmarks/rollout_routing.py [--requests 200000] [--repeat 5]
                                         [--gateway-requests 3000] [--concurrency 32]
                                         [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from modelward.rollout import EndpointPlan, Route, TrafficPlan

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


class _Logistic:
    """A fixed logistic model over four inputs (the gateway needs ``predict_proba``)."""

    classes_ = np.array([0, 1])

    def __init__(self, shift: float) -> None:
        self.w = np.array([0.8, -0.5, 0.3, 0.1])
        self.shift = shift

    def predict_proba(self, x: Any) -> Any:
        p = 1.0 / (1.0 + np.exp(-(np.asarray(x) @ self.w + self.shift)))
        return np.column_stack([1 - p, p])


def _gateway(plan: TrafficPlan | None) -> Any:
    from modelward.config.settings import ServingSettings
    from modelward.monitoring import PredictionLogWriter, open_prediction_sink
    from modelward.security import Principal, Role
    from modelward.serving.auth import TokenVerifier
    from modelward.serving.config_cache import EndpointCache, Sources
    from modelward.serving.endpoints import Endpoint, EndpointSpec
    from modelward.serving.gateway import Gateway
    from modelward.serving.metrics import GatewayMetrics
    from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver

    now = datetime.now(UTC)
    spec = EndpointSpec(
        name="churn",
        model="churn@2",
        request={"customer_id": "int", "a": "float", "b": "float", "c": "float", "d": "float"},
        entity_keys=["customer_id"],
        latency_budget_ms=1_000,
    )
    endpoint = Endpoint(spec, 1, "bench", now, "bench", now)
    models = {
        "churn@2": ResolvedModel("churn", "2", "mem://2", _Logistic(0.0)),
        "churn@3": ResolvedModel("churn", "3", "mem://3", _Logistic(0.1)),
    }
    plans = {"churn": EndpointPlan(plan, True, now)} if plan is not None else {}
    metrics = GatewayMetrics()
    sources = Sources(
        load_endpoints=lambda: [endpoint],
        resolver=StaticModelResolver(models),
        loader=ObjectModelLoader(),
        load_plans=lambda: plans,
    )
    who = Principal("bench", Role.ADMIN)
    return Gateway(
        ServingSettings(access_log=False, gc_freeze=False, poll_interval_s=3600),
        EndpointCache(sources, metrics),
        TokenVerifier(lambda token: who, ttl_s=3600),
        PredictionLogWriter(open_prediction_sink({"type": "memory"}, Path(".")), capacity=10**7),
        metrics,
    )


async def _drive(
    plan: TrafficPlan | None, requests: int, concurrency: int, *, count_calls: bool = False
) -> dict[str, float]:
    import httpx

    gateway = _gateway(plan)
    await gateway.startup()
    transport = httpx.ASGITransport(app=gateway)
    headers = {"Authorization": "Bearer bench"}
    latencies: list[float] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        next_id = iter(range(requests))

        async def worker() -> None:
            for i in next_id:
                body = {"inputs": {"customer_id": i, "a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}}
                began = time.perf_counter()
                r = await http.post("/v1/endpoints/churn/predict", json=body, headers=headers)
                latencies.append(time.perf_counter() - began)
                assert r.status_code == 200, r.text

        for _ in range(200):  # warm: first requests pay imports and caches
            await http.post(
                "/v1/endpoints/churn/predict",
                json={"inputs": {"customer_id": 0, "a": 0, "b": 0, "c": 0, "d": 0}},
                headers=headers,
            )
        # model calls on the answer path (the endpoint's batcher and a canary's candidate's)
        runtimes = [gateway.cache.runtimes["churn"]]
        if plan is not None and plan.weight:
            runtimes.append(gateway.cache.routings["churn"].candidate)
        calls = sum(r.batcher.calls for r in runtimes)
        await gateway.shadows.close()  # the warm-up's copies are not the measured ones'
        profile = cProfile.Profile() if count_calls else None
        # the loop thread's own CPU: the primary's path (and the in-process client)
        cpu, loop_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if profile is not None:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        loop_cpu = time.thread_time() - loop_cpu
        calls = sum(r.batcher.calls for r in runtimes) - calls
    await gateway.shutdown()
    if profile is not None:
        # function calls on the loop thread (cProfile sees only the thread it runs on): a
        # count of the work on the primary's path, which the machine's load cannot move
        return {"loop_calls_per_request": round(pstats.Stats(profile).total_calls / requests, 1)}
    latencies.sort()
    return {
        "cpu_us_per_request": round(cpu / requests * 1e6, 1),
        "loop_cpu_us_per_request": round(loop_cpu / requests * 1e6, 1),
        "requests_per_s": round(requests / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "model_calls_per_request": round(calls / requests, 3),
    }


def gateway_cases(requests: int, concurrency: int, rounds: int = 5) -> list[dict[str, Any]]:
    """Every case once per round, in a rotated order, and per case the median over the
    rounds; each ratio is the median of the per-round ratios to that round's "no release"
    run, so a case is compared with a run made moments apart on the same (shared) machine,
    not with one made minutes earlier under another load."""
    cases: list[tuple[str, TrafficPlan | None]] = [
        ("no release", None),
        ("canary 50%", TrafficPlan.canary("churn@2", "churn@3", weight=50, release_id="r")),
        ("shadow 100%", TrafficPlan.shadow("churn@2", "churn@3", percent=100, release_id="r")),
    ]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in cases}
    for r in range(rounds):
        for name, plan in cases[r % len(cases) :] + cases[: r % len(cases)]:
            runs[name].append(asyncio.run(_drive(plan, requests, concurrency)))
    base = runs["no release"]
    rows = []
    for name, measured in runs.items():
        plan = dict(cases)[name]
        counted = asyncio.run(_drive(plan, min(requests, 2_000), concurrency, count_calls=True))
        row: dict[str, Any] = {"case": name, "rounds": rounds, **counted}
        for key in measured[0]:
            row[key] = round(statistics.median(m[key] for m in measured), 3)
        for key, ratio in (
            ("cpu_us_per_request", "cpu_vs_none"),
            ("loop_cpu_us_per_request", "loop_cpu_vs_none"),
            ("requests_per_s", "throughput_vs_none"),
            ("p99_ms", "p99_vs_none"),
        ):
            row[ratio] = round(
                statistics.median(m[key] / b[key] for m, b in zip(measured, base, strict=True)), 3
            )
        row["throughput_vs_none_each_round"] = [
            round(m["requests_per_s"] / b["requests_per_s"], 3)
            for m, b in zip(measured, base, strict=True)
        ]
        rows.append(row)
    return rows


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--gateway-requests", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
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
    console = Console(stderr=True, width=150)
    console.print(table)
    gateway_rows = (
        gateway_cases(args.gateway_requests, args.concurrency, args.rounds)
        if args.gateway_requests
        else []
    )
    if gateway_rows:
        gtable = Table(
            title=f"through the gateway, in process ({args.gateway_requests:,} requests, "
            f"c={args.concurrency}, median of {args.rounds} interleaved rounds)"
        )
        for column in (
            "case",
            "CPU us/req",
            "loop CPU us/req",
            "req/s",
            "p50 ms",
            "p99 ms",
            "calls/req",
            "loop fn calls/req",
            "x CPU",
            "x loop CPU",
            "x thru",
            "x p99",
        ):
            gtable.add_column(column, justify="left" if column == "case" else "right")
        for row in gateway_rows:
            gtable.add_row(
                row["case"],
                f"{row['cpu_us_per_request']:.0f}",
                f"{row['loop_cpu_us_per_request']:.0f}",
                f"{row['requests_per_s']:.0f}",
                f"{row['p50_ms']:.2f}",
                f"{row['p99_ms']:.2f}",
                f"{row['model_calls_per_request']:.2f}",
                f"{row['loop_calls_per_request']:.0f}",
                f"{row['cpu_vs_none']:.2f}",
                f"{row['loop_cpu_vs_none']:.2f}",
                f"{row['throughput_vs_none']:.2f}",
                f"{row['p99_vs_none']:.2f}",
            )
        console.print(gtable)
    result = {
        "benchmark": "rollout_routing",
        "requests": args.requests,
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "cases": rows,
        "budget_us": 20,
        "gateway": gateway_rows,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "loadavg": _loadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rollout_routing.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

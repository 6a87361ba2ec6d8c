"""Asynchronous inference on Redis: sustained jobs/s with N workers and enqueue-to-result
latency at a fixed arrival rate, beside the raw limit (a direct ``predict_proba``).

Model: the benchmark GBM (GradientBoostingClassifier, 100 trees, depth 3, 20 features, as
benchmarks/gateway.py). Jobs: one row each. Workers: ``--workers`` processes, each a
:class:`modelward.serving.JobWorker` wired like ``modelward worker`` (its own gateway:
validation, the endpoint's micro-batcher, the fallback path; the workspace's SQLite
prediction log written with ``mode="async"``), with the model object handed to the loader
instead of read from MLflow. Phases:

- raw: ``predict_proba`` on one row in a loop (one process), and on 64-row batches (per row);
- throughput: ``--jobs`` jobs queued first, then the workers drain them; jobs/s is the jobs
  over the span of their ``finished_at`` times (start-up excluded);
- latency: jobs submitted at ``--rate`` per second for ``--seconds`` while the workers wait;
  each job's ``finished_at - created_at`` (one clock: one machine) gives p50/p95/p99.

Results: a Rich table, JSON on stdout and benchmarks/results/async_jobs.json. Other
sessions share the CPU: the load average is recorded beside the numbers.

    python benchmarks/async_jobs.py [--jobs 20000] [--rate 100] [--seconds 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FEATURES = 20
ENDPOINT = "bench"

_WORKER = """
import asyncio, pickle, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from modelward.config import JobsSettings, ServingSettings, Workspace
from modelward.monitoring import PredictionLogWriter, open_workspace_log
from modelward.security import Principal, Role
from modelward.serving import EndpointSpec, Gateway, JobWorker
from modelward.serving.auth import TokenVerifier
from modelward.serving.config_cache import EndpointCache, Sources
from modelward.serving.endpoints import Endpoint
from modelward.serving.jobs.redis import RedisJobQueue
from modelward.serving.metrics import GatewayMetrics
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.session import Session

root, url, prefix, model_path, concurrency, batch, features, name = sys.argv[1:9]
model = pickle.loads(Path(model_path).read_bytes())
fields = {f"f{i}": "float" for i in range(int(features))}
spec = EndpointSpec(name=name, model="bench@1", request=fields,
                    max_batch=256, latency_budget_ms=5000)
now = datetime.now(UTC)
session = Session(Workspace.open(Path(root), environ={"MODELWARD_IDENTITY__USER": "bench"}))
settings = JobsSettings(visibility_timeout_s=60)
sources = Sources(
    load_endpoints=lambda: [Endpoint(spec, 1, "b", now, "b", now)],
    resolver=StaticModelResolver({"bench@1": ResolvedModel("bench", "1", "mem://b/1", model)}),
    loader=ObjectModelLoader(),
)
metrics = GatewayMetrics()
gateway = Gateway(
    ServingSettings(access_log=False, poll_interval_s=3600),
    EndpointCache(sources, metrics),
    TokenVerifier(lambda token: Principal("b", Role.ADMIN)),
    PredictionLogWriter(open_workspace_log(session)),
    metrics,
)
queue = RedisJobQueue(url, settings, prefix=prefix)
worker = JobWorker(gateway, queue, name, settings,
                   concurrency=int(concurrency), batch=int(batch))

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    stats = await worker.run(stop)
    print(stats.succeeded, flush=True)

asyncio.run(main())
"""


def _model(path: Path) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5_000, FEATURES))
    y = (x[:, :5].sum(axis=1) + rng.normal(size=5_000) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(x, y)
    path.write_bytes(pickle.dumps(model))
    return model


def _raw(model: Any, n: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(n, FEATURES))
    began = time.perf_counter()
    for i in range(n):
        model.predict_proba(rows[i : i + 1])
    single = n / (time.perf_counter() - began)
    began = time.perf_counter()
    for start in range(0, n, 64):
        model.predict_proba(rows[start : start + 64])
    batched = n / (time.perf_counter() - began)
    return {"single_row_per_s": single, "batched_64_rows_per_s": batched}


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    values = np.random.default_rng(seed).normal(size=(n, FEATURES))
    return [
        {"inputs": [{f"f{i}": float(v) for i, v in enumerate(r)}], "batch": False} for r in values
    ]


def _wait_done(queue: Any, ids: list[str], timeout_s: float) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    pending = list(ids)
    done: dict[str, Any] = {}
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(pending)} jobs unfinished after {timeout_s:.0f}s")
        still = []
        for job_id in pending:
            job = queue.get(ENDPOINT, job_id)
            if job is not None and job.status == "succeeded":
                done[job_id] = job
            else:
                still.append(job_id)
        pending = still
        if pending:
            time.sleep(0.2)
    return [done[i] for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs in the throughput phase")
    parser.add_argument("--rate", type=float, default=100.0, help="jobs/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="loops per worker")
    parser.add_argument("--batch", type=int, default=128, help="jobs per queue read")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    from modelward.config import JobsSettings, init_workspace
    from modelward.serving.jobs.redis import RedisJobQueue

    console = Console(stderr=True)
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="mw-async-bench-"))
    root = init_workspace(tmp / "ws", project="bench")
    model = _model(tmp / "model.pkl")
    raw = _raw(model, 5_000)
    prefix = f"mwbench:{uuid.uuid4().hex[:8]}"
    queue = RedisJobQueue(args.redis, JobsSettings(), prefix=prefix)

    console.print(f"queueing {args.jobs:,} jobs ...")
    ids = [queue.submit(ENDPOINT, payload)[0].id for payload in _rows(args.jobs, 2)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                str(root),
                args.redis,
                prefix,
                str(tmp / "model.pkl"),
                str(args.concurrency),
                str(args.batch),
                str(FEATURES),
                ENDPOINT,
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.workers)
    ]
    try:
        console.print(f"{args.workers} workers draining ...")
        jobs = _wait_done(queue, ids, timeout_s=600)
        finished = sorted(j.finished_at for j in jobs)
        span = finished[-1] - finished[0]
        throughput = (len(jobs) - 1) / span if span > 0 else float("inf")

        console.print(f"latency phase: {args.rate:g} jobs/s for {args.seconds:g}s ...")
        payloads = _rows(int(args.rate * args.seconds), 3)
        began = time.monotonic()
        paced = []
        for k, payload in enumerate(payloads):
            due = began + k / args.rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            paced.append(queue.submit(ENDPOINT, payload)[0].id)
        late = _wait_done(queue, paced, timeout_s=120)
        waits_ms = np.array([(j.finished_at - j.created_at) * 1000.0 for j in late])
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        worker_cpu_s = children.ru_utime + children.ru_stime
        queue_client = queue._client  # the benchmark's own namespace, removed afterwards
        keys = list(queue_client.scan_iter(f"{prefix}:*"))
        if keys:
            queue_client.delete(*keys)
        queue.close()

    report = {
        "benchmark": "async_jobs",
        "queue": "redis",
        "workers": args.workers,
        "concurrency": args.concurrency,
        "batch": args.batch,
        "jobs": args.jobs,
        "throughput_jobs_per_s": round(throughput, 1),
        "raw_single_row_predict_per_s": round(raw["single_row_per_s"], 1),
        "raw_batched_predict_rows_per_s": round(raw["batched_64_rows_per_s"], 1),
        "latency_rate_per_s": args.rate,
        "latency_jobs": len(late),
        "enqueue_to_result_ms": {
            "p50": round(float(np.percentile(waits_ms, 50)), 2),
            "p95": round(float(np.percentile(waits_ms, 95)), 2),
            "p99": round(float(np.percentile(waits_ms, 99)), 2),
        },
        # the workers' CPU (user + system, start-up and idle waits included) per job scored
        "worker_cpu_ms_per_job": round(worker_cpu_s * 1000 / (args.jobs + len(late)), 3),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    table = Table(title="async inference on Redis (one-row jobs)")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("raw: predict_proba, 1 row per call", f"{raw['single_row_per_s']:,.0f}/s", "")
    table.add_row(
        "raw: predict_proba, 64 rows per call", f"{raw['batched_64_rows_per_s']:,.0f} rows/s", ""
    )
    table.add_row(f"jobs/s, {args.workers} workers", f"{throughput:,.0f}/s", ">= 1,000/s")
    p = report["enqueue_to_result_ms"]
    assert isinstance(p, dict)
    table.add_row(f"enqueue-to-result p50 at {args.rate:g}/s", f"{p['p50']:.1f} ms", "< 50 ms")
    table.add_row("p95 / p99", f"{p['p95']:.1f} / {p['p99']:.1f} ms", "")
    table.add_row("worker CPU per job", f"{report['worker_cpu_ms_per_job']:.3f} ms", "")
    before = " ".join(map(str, report["load_average_before"]))
    table.add_row("load average (1, 5, 15 min) before", before, "")
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "async_jobs.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

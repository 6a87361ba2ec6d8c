"""Online gateway throughput and latency beside the raw limits, measured in the same run.

Model: GradientBoostingClassifier, 100 trees, depth 3, 20 numeric features. Requests:
single-row JSON, sent by ``wrk`` (Debian's package, with a Lua POST script) from a second
process on 127.0.0.1, 15 s per point, at concurrency 1 and 32, with 1 and 2 workers.

Rows of the table:

* ``predict_proba`` in-process on 1 and on 32 rows (CPU per call): the model's own cost;
* ``bare``: Starlette on uvicorn that parses the JSON and calls the model (no validation,
  metrics, logging or auth) — the raw limit of an HTTP endpoint;
* ``bare+batch``: the same with opportunistic micro-batching and a frozen GC;
* ``gateway``: ``modelward serve``, validation + token auth + metrics + prediction log +
  JSON access log, batching off, model inline on the event loop (``isolate_model: false``);
* ``gateway+batch``: opportunistic micro-batching on, the model on its own thread (the
  default: the deadline can cut a hung model short);
* ``gateway+loopbatch``: micro-batching on the event loop (``isolate_model: false``);
* ``gateway+features``: as ``gateway``, with 10 of the 20 inputs read from the SQLite
  online store;
* ``gateway+frame``, ``gateway+frame+batch``: as ``gateway`` and ``gateway+batch``, for the
  same model fitted on a DataFrame (it names its 20 columns, as every scikit-learn model
  trained on pandas does) and logged with its signature, endpoint ``request:
  from_signature``: the gateway feeds it a DataFrame instead of a float matrix, so the pair
  against ``gateway``/``gateway+batch`` is the cost of the DataFrame feed;
* ``gateway+nolog``: as ``gateway`` with monitoring off (the per-row prediction-log call
  removed from the request path, so nothing is logged): the pair against ``gateway`` is
  what monitoring costs in throughput (target: on >= 0.95x off);
* ``mlflow``: ``mlflow models serve`` on the same model, as a peer.

Server CPU per request is the server processes' user+system time over the requests
answered. Results print as a table and go to ``benchmarks/results/gateway.json`` (``--out``). The raw
costs printed first include both feeds in-process: building the float matrix or the
DataFrame from parsed rows, and ``predict_proba`` on each. Without ``wrk`` the script uses
its own Python client (``benchmarks/http_load.py``), which caps what it can show on a small
machine: compare rows of one run, measured with one client.

    python benchmarks/gateway.py                  # the full run (~8 minutes)
    python benchmarks/gateway.py --duration 3 --quick
    python benchmarks/gateway.py --kinds gateway,gateway+nolog --workers 1 --concurrency 32 \
        --duration 10 --rounds 6        # monitoring on against off, interleaved
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
N_FEATURES = 20
N_ENTITIES = 10_000
TICK = os.sysconf("SC_CLK_TCK")

FEATURES_PY = """
from modelward.features import Entity, Feature, FeatureView

item = Entity("item", ["id"])
bench_stats = FeatureView(
    "bench_stats",
    entities=[item],
    source="data/stats.parquet",
    timestamp="ts",
    features=[Feature(f"g{i}", "float64") for i in range(10)],
    owner="bench",
)
"""

LAUNCH = """
import importlib, os, sys
if os.environ.get("BENCH_PREDICTION_LOG") == "off":
    # monitoring off: the gateway's per-row log call (redaction, record, queue) removed
    from modelward.serving.answers import Answer
    Answer.log = lambda *args, **kwargs: None
root = importlib.import_module("modelward.cli.app")
from modelward.cli import endpoints, gateway
register = root._register
def wired():
    register()
    names = {c.name for c in root.app.registered_commands}
    if "serve" not in names:
        gateway.register(root.app)
root._register = wired
root.main(sys.argv[1:])
"""

LUA = HERE / "gateway_post.lua"
sys.path.insert(0, str(HERE))  # the sibling modules: gateway_raw, http_load


def build(work: Path) -> dict[str, Any]:
    """A workspace with the model registered, features materialized, endpoints and a token."""
    import warnings

    warnings.filterwarnings("ignore")
    import joblib
    import mlflow
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.ensemble import GradientBoostingClassifier

    from modelward import features
    from modelward.config import init_workspace
    from modelward.registry import tracking, versions
    from modelward.registry.serialization import trusted_types_for
    from modelward.security.roles import Principal, Role
    from modelward.security.tokens import bootstrap_admin
    from modelward.serving import create_endpoint, parse_spec
    from modelward.session import open_session

    root = init_workspace(work / "ws", project="bench")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5_000, N_FEATURES))
    y = (x[:, :5].sum(axis=1) + rng.normal(size=5_000) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(x, y)
    joblib.dump(model, work / "model.joblib")
    import pandas as pd

    names = [f"f{i}" for i in range(N_FEATURES)]
    framed = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(
        pd.DataFrame(x, columns=names), y
    )
    joblib.dump(framed, work / "model-frame.joblib")

    (root / "data").mkdir(exist_ok=True)
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC) - timedelta(hours=1)  # safely before the materialization end
    cols: dict[str, Any] = {
        "id": pa.array(range(N_ENTITIES), pa.int64()),
        "ts": pa.array([now] * N_ENTITIES, pa.timestamp("us", "UTC")),
    }
    for i in range(10):
        cols[f"g{i}"] = pa.array(rng.normal(size=N_ENTITIES))
    pq.write_table(pa.table(cols), root / "data" / "stats.parquet")
    (root / "features.py").write_text(FEATURES_PY, encoding="utf-8")

    env = {"MODELWARD_IDENTITY__USER": "bench"}
    with open_session(root, environ=env) as session:
        features.apply(session)
        features.materialize(session=session)
        with tracking.using_workspace(session.workspace), mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model, name="model", skops_trusted_types=trusted_types_for(model)
            )
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=info.model_uri, dst_path=str(work / "mlflow-model")
            )
        versions.register(session, "bench", model_uri=info.model_uri)
        from mlflow.models.signature import ModelSignature
        from mlflow.types.schema import ColSpec, Schema

        signature = ModelSignature(inputs=Schema([ColSpec("double", n) for n in names]))
        with tracking.using_workspace(session.workspace), mlflow.start_run():
            info = mlflow.sklearn.log_model(
                framed,
                name="model",
                signature=signature,
                skops_trusted_types=trusted_types_for(framed),
            )
        versions.register(session, "bench_frame", model_uri=info.model_uri)
        _, token = bootstrap_admin(session)
        admin = Principal("bench", Role.ADMIN)
        plain = {f"f{i}": "float" for i in range(N_FEATURES)}
        common = {"model": "bench@1", "latency_budget_ms": 1000}
        on_loop = {"isolate_model": False}
        for name, options in (
            ("plain", {"batching": False, **on_loop}),
            ("batched", {"batching": True}),
            ("loopbatched", {"batching": True, **on_loop}),
        ):
            create_endpoint(
                session, admin, parse_spec({"name": name, "request": plain, **options, **common})
            )
        framing = {"model": "bench_frame@1", "request": "from_signature", "latency_budget_ms": 1000}
        for name, options in (
            ("frame", {"batching": False, **on_loop}),
            ("framebatched", {"batching": True}),
        ):
            create_endpoint(session, admin, parse_spec({"name": name, **options, **framing}))
        request = {"id": "int", **{f"f{i}": "float" for i in range(10)}}
        create_endpoint(
            session,
            admin,
            parse_spec(
                {
                    "name": "features",
                    "request": request,
                    "entity_keys": ["id"],
                    "features": ["bench_stats"],
                    "model_inputs": [f"f{i}" for i in range(10)] + [f"g{i}" for i in range(10)],
                    "batching": False,
                    "isolate_model": False,
                    **common,
                }
            ),
        )
    return {
        "root": root,
        "token": token,
        "joblib": work / "model.joblib",
        "joblib_frame": work / "model-frame.joblib",
        "mlflow": local,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_cpu_s(pid: int) -> float:
    """User+system CPU seconds of ``pid`` and every live descendant."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += times.get(p, 0.0)
        todo.extend(c for c, pp in parents.items() if pp == p)
    return total


def start(kind: str, workers: int, setup: dict[str, Any], log: Path) -> tuple[Any, str]:
    port = free_port()
    # [serving] overrides (MODELWARD_SERVING__*) pass through, for experiments
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MODELWARD_") or k.startswith("MODELWARD_SERVING__")
    }
    py = sys.executable
    if kind.startswith("bare"):
        env |= {"BARE_MODEL": str(setup["joblib"]), "BARE_BATCH": "1" if "batch" in kind else ""}
        cmd = [
            py,
            "-m",
            "uvicorn",
            "--app-dir",
            str(HERE),
            "gateway_bare_app:app",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--no-access-log",
            # the same lean uvicorn settings `modelward serve` uses
            "--no-proxy-headers",
            "--no-server-header",
            "--no-date-header",
            "--log-level",
            "warning",
        ]
        ready = f"http://127.0.0.1:{port}/predict"
    elif kind == "mlflow":
        cmd = [
            str(Path(py).with_name("mlflow")),
            "models",
            "serve",
            "-m",
            str(setup["mlflow"]),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            str(workers),
        ]
        ready = f"http://127.0.0.1:{port}/ping"
        # mlflow starts `uvicorn` by name: the venv's bin folder must be on PATH
        env["PATH"] = f"{Path(py).parent}{os.pathsep}{env.get('PATH', '')}"
    else:
        env |= {"MODELWARD_WORKSPACE": str(setup["root"]), "MODELWARD_IDENTITY__USER": "bench"}
        env["BENCH_PREDICTION_LOG"] = "off" if kind == "gateway+nolog" else "on"
        cmd = [py, "-c", LAUNCH, "serve", "--port", str(port), "--workers", str(workers)]
        ready = f"http://127.0.0.1:{port}/readyz"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=setup["root"],
            start_new_session=True,
        )
    wait_ready(proc, ready, kind)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: Any, url: str, kind: str, timeout_s: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited with {proc.returncode}")
        try:
            r = (
                httpx.post(url, content=b"{}", timeout=1.0)
                if url.endswith("/predict")
                else httpx.get(url, timeout=1.0)
            )
            if r.status_code < 500 or url.endswith("/predict"):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{kind} not ready in {timeout_s} s")


def stop(proc: Any) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def body_for(kind: str) -> tuple[str, bytes]:
    row = {f"f{i}": round(0.1 * i - 0.9, 3) for i in range(N_FEATURES)}
    if kind.startswith("bare"):
        return "/predict", json.dumps({"inputs": row}).encode()
    if kind == "mlflow":
        data = {
            "dataframe_split": {"columns": list(range(N_FEATURES)), "data": [list(row.values())]}
        }
        return "/invocations", json.dumps(data).encode()
    if kind == "gateway+features":
        feats = {"id": 4242, **{f"f{i}": row[f"f{i}"] for i in range(10)}}
        return "/v1/endpoints/features/predict", json.dumps({"inputs": feats}).encode()
    name = {
        "gateway+batch": "batched",
        "gateway+loopbatch": "loopbatched",
        "gateway+frame": "frame",
        "gateway+frame+batch": "framebatched",
    }.get(kind, "plain")
    return f"/v1/endpoints/{name}/predict", json.dumps({"inputs": row}).encode()


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    base: str, path: str, body: bytes, token: str | None, conns: int, duration: int, work: Path
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        from http_load import run_builtin

        return run_builtin(base, path, body, token, conns, duration)
    env = {**os.environ, "WRK_BODY": body.decode(), "WRK_TOKEN": token or ""}
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "-s", str(LUA), base + path],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
        env=env,
    ).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if "99" not in lat:  # no request answered in time: wrk prints no distribution
        raise RuntimeError(f"wrk measured no latency distribution:\n{out[-800:]}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "requests": requests,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def measure(
    kind: str, workers: int, conc: list[int], duration: int, setup: dict[str, Any], work: Path
) -> list[dict[str, Any]]:
    """Start one server, run every concurrency against it, stop it."""
    import httpx

    t0 = time.perf_counter()
    proc, base = start(kind, workers, setup, work / f"{kind}-{workers}.log")
    spawn_to_ready = time.perf_counter() - t0
    startup = None
    if kind.startswith("gateway"):
        readyz = httpx.get(base + "/readyz").json()
        startup = {k: readyz.get(k) for k in ("startup_s", "ready_after_load_s")}
    path, body = body_for(kind)
    token = setup["token"] if kind.startswith("gateway") else None
    points = []
    try:
        for c in conc:
            run_wrk(base, path, body, token, c, 2, work)  # warm-up, not recorded
            cpu0 = tree_cpu_s(proc.pid)
            result = run_wrk(base, path, body, token, c, duration, work)
            cpu = tree_cpu_s(proc.pid) - cpu0
            result |= {
                "server": kind,
                "workers": workers,
                "concurrency": c,
                "cpu_us_per_request": cpu / max(result["requests"], 1) * 1e6,
                "spawn_to_ready_s": round(spawn_to_ready, 2),
                "startup": startup,
            }
            if result["non_2xx"]:
                headers = {"Content-Type": "application/json"}
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                probe = httpx.post(base + path, content=body, headers=headers)
                result["non_2xx_example"] = f"{probe.status_code} {probe.text[:300]}"
            points.append(result)
    finally:
        stop(proc)
    return points


def targets(points: list[dict[str, Any]]) -> list[tuple[str, str, str, bool]]:
    """The issue's targets, as (target, measured, limit, met) at 2 workers where possible."""
    at = {(p["server"], p["workers"], p["concurrency"]): p for p in points}
    out: list[tuple[str, str, str, bool]] = []
    w = max((p["workers"] for p in points), default=1)
    bare, gw = at.get(("bare", w, 32)), at.get(("gateway", w, 32))
    if bare and gw:
        r = gw["rps"] / bare["rps"]
        out.append((f"gateway/bare req/s (w={w}, c=32)", f"{r:.2f}", ">= 0.80", r >= 0.8))
        q = gw["p99_ms"] / bare["p99_ms"]
        out.append((f"gateway/bare p99 (w={w}, c=32)", f"{q:.2f}", "<= 1.30", q <= 1.3))
        d = gw["cpu_us_per_request"] - bare["cpu_us_per_request"]
        out.append((f"gateway - bare CPU us/req (w={w}, c=32)", f"{d:.0f}", "<= 150", d <= 150))
    for kind in ("gateway+batch", "gateway+loopbatch"):
        batch = at.get((kind, w, 32))
        if not batch:
            continue
        ok = batch["rps"] >= 10_000
        out.append((f"{kind} req/s (w={w}, c=32)", f"{batch['rps']:.0f}", ">= 10000", ok))
        ok = batch["p99_ms"] < 10
        out.append((f"{kind} p99 ms (w={w}, c=32)", f"{batch['p99_ms']:.2f}", "< 10", ok))
        peer = at.get(("mlflow", w, 32))
        if peer:
            r = batch["rps"] / peer["rps"]
            out.append((f"{kind}/mlflow req/s (w={w}, c=32)", f"{r:.1f}", "> 10", r > 10))
    for framed, matrix in (("gateway+frame", "gateway"), ("gateway+frame+batch", "gateway+batch")):
        f, m = at.get((framed, w, 32)), at.get((matrix, w, 32))
        if f and m:
            r = f["rps"] / m["rps"]
            out.append((f"{framed}/{matrix} req/s (w={w}, c=32)", f"{r:.2f}", ">= 0.70", r >= 0.7))
    off = at.get(("gateway+nolog", w, 32))
    if gw and off:
        r = gw["rps"] / off["rps"]
        out.append((f"gateway/gateway+nolog req/s (w={w}, c=32)", f"{r:.2f}", ">= 0.95", r >= 0.95))
    feats = at.get(("gateway+features", w, 32))
    if bare and feats:
        r = feats["rps"] / bare["rps"]
        out.append((f"gateway+features/bare req/s (w={w}, c=32)", f"{r:.2f}", ">= 0.60", r >= 0.6))
    bare1, gw1 = at.get(("bare", 1, 1)), at.get(("gateway", 1, 1))
    if bare1 and gw1:
        r = gw1["p50_ms"] / bare1["p50_ms"]
        out.append(("gateway/bare p50 (w=1, c=1)", f"{r:.2f}", "<= 1.50", r <= 1.5))
    starts = [p["startup"]["ready_after_load_s"] for p in points if p.get("startup")]
    if starts:
        worst = max(starts)
        out.append(("ready after model load, s (worst)", f"{worst:.2f}", "<= 2", worst <= 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per point")
    parser.add_argument("--quick", action="store_true", help="1 worker, c=32, no mlflow")
    parser.add_argument("--kinds", default="", help="comma-separated subset of servers")
    parser.add_argument("--workers", default="", help="comma-separated worker counts")
    parser.add_argument("--concurrency", default="", help="comma-separated concurrencies")
    parser.add_argument(
        "--out", default="gateway.json", help="results file name in benchmarks/results/"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every server this many times, the order rotated each round; the "
        "table shows the medians (whichever server runs first on a fresh machine can win "
        "by 20-50%%, so one pair cannot settle a 5%% question)",
    )
    args = parser.parse_args()
    console = Console(width=150)
    if shutil.which("wrk") is None:
        console.print("wrk is not installed (apt-get install -y wrk): using the built-in client")
    kinds = [
        "bare",
        "bare+batch",
        "gateway",
        "gateway+batch",
        "gateway+loopbatch",
        "gateway+features",
        "gateway+frame",
        "gateway+frame+batch",
        "gateway+nolog",
        "mlflow",
    ]
    if args.quick:
        kinds = kinds[:-1]
    if args.kinds:
        kinds = args.kinds.split(",")
    worker_counts = [1] if args.quick else [1, 2]
    conc = [32] if args.quick else [1, 32]
    if args.workers:
        worker_counts = [int(w) for w in args.workers.split(",")]
    if args.concurrency:
        conc = [int(c) for c in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="mw-bench-gateway-"))
    console.print(f"building the workspace in {work} ...")
    setup = build(work)
    from gateway_raw import raw_model_cost

    raw = raw_model_cost(setup["joblib"], setup["joblib_frame"], N_FEATURES)
    console.print(raw)
    RESULTS.mkdir(exist_ok=True)
    result: dict[str, Any] = {
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
        "client": "wrk" if shutil.which("wrk") else "builtin",
        "raw": raw,
        "points": [],
        "failures": [],
    }
    result["rounds"] = args.rounds
    for workers, kind in _schedule(worker_counts, kinds, args.rounds):
        try:
            got = measure(kind, workers, conc, args.duration, setup, work)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            result["failures"].append(f"{kind} w={workers}: {exc}")
            console.print(f"[red]{kind} w={workers} failed: {exc}[/red]")
            continue
        for p in got:
            console.print(
                f"{kind:17} w={workers} c={p['concurrency']:<2} {p['rps']:>9.0f} req/s  "
                f"p50 {p['p50_ms']:.2f} ms  p99 {p['p99_ms']:.2f} ms  "
                f"cpu {p['cpu_us_per_request']:.0f} us/req  non-2xx {p['non_2xx']}"
            )
        result["points"].extend(got)
        # written after every server, so a late failure keeps what was measured
        (RESULTS / args.out).write_text(json.dumps(result, indent=2) + "\n")
    result["every_round"] = result["points"]
    result["points"] = points = _medians(result["points"])
    table = Table(title=f"gateway benchmark ({args.duration} s per point, wrk on 127.0.0.1)")
    for col in (
        "server",
        "workers",
        "conc.",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU us/req",
        "vs bare req/s",
        "non-2xx",
    ):
        table.add_column(col, justify="left" if col == "server" else "right")
    bare = {(p["workers"], p["concurrency"]): p for p in points if p["server"] == "bare"}
    for p in points:
        ref = bare.get((p["workers"], p["concurrency"]))
        ratio = f"{p['rps'] / ref['rps']:.2f}x" if ref else ""
        table.add_row(
            p["server"],
            str(p["workers"]),
            str(p["concurrency"]),
            f"{p['rps']:.0f}",
            f"{p['p50_ms']:.2f}",
            f"{p['p99_ms']:.2f}",
            f"{p['cpu_us_per_request']:.0f}",
            ratio,
            str(p["non_2xx"]),
        )
    console.print(table)
    checks = Table(title="targets")
    for col in ("target", "measured", "limit", "met"):
        checks.add_column(col)
    result["targets"] = []
    for name, measured, limit, met in targets(points):
        checks.add_row(name, measured, limit, "yes" if met else "[red]no[/red]")
        result["targets"].append({"target": name, "measured": measured, "limit": limit, "met": met})
    console.print(checks)
    (RESULTS / args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    shutil.rmtree(work, ignore_errors=True)


def _schedule(worker_counts: list[int], kinds: list[str], rounds: int) -> list[tuple[int, str]]:
    """Every (workers, server) ``rounds`` times, the servers' order rotated each round."""
    order = []
    for r in range(max(1, rounds)):
        turned = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]
        order += [(w, k) for w in worker_counts for k in turned]
    return order


def _medians(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per (server, workers, concurrency): the median of its rounds' figures."""
    import statistics

    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for p in points:
        groups.setdefault((p["server"], p["workers"], p["concurrency"]), []).append(p)
    merged = []
    for same in groups.values():
        point = dict(same[0])
        for key in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request"):
            point[key] = statistics.median(p[key] for p in same)
        point["non_2xx"] = sum(p["non_2xx"] for p in same)
        point["rounds"] = len(same)
        merged.append(point)
    return merged


if __name__ == "__main__":
    main()

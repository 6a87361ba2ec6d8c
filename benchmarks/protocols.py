"""The gateway's protocols beside its native route, on the same model, server and client.

One ``modelward serve`` process (1 worker, gRPC on ``serving.grpc_port``) serves one
endpoint: a GradientBoostingClassifier (``--trees`` trees, depth 3, 20 numeric inputs),
micro-batching on (the default). Each point is closed-loop load for ``--duration`` seconds
from this process, on 127.0.0.1, at concurrency 32 and 1:

* ``native``: ``POST /v1/endpoints/bench/predict`` with ``{"inputs": {...}}`` — the limit
  the other protocols are held to (same validation, auth, metrics, prediction log);
* ``oip-rest``: ``POST /v2/models/bench/infer``, one ``[1, 20]`` FP64 tensor (JSON);
* ``mlflow``: ``POST /invocations``, ``dataframe_split`` with one row;
* ``oip-grpc``: ``ModelInfer`` with one ``[1, 20]`` FP64 tensor in ``raw_input_contents``,
  over one HTTP/2 channel (``grpc.aio`` at c=32; at c=1 the blocking client).

* ``grpc-floor``: the same gRPC load on a bare ``grpc.aio`` server (uvloop) that answers
  a fixed reply with no gateway behind it: what grpcio itself costs per call.

Each point runs ``--rounds`` times, the order of the protocols rotated per round; the table
shows the medians (the JSON keeps every round).

Server CPU per request (the ``serve`` process's user+system time over the requests it
answered) is the steadiest figure on a shared machine. Two columns say where it goes: the
server's thread context switches per request (a hand-over between threads costs a switch
or two, and on a busy machine each is dear) and the rows per model call (requests that
arrive together share one call of the micro-batcher; one call of the benchmark's model
costs about 0.2 ms whatever its rows). The REST rows share one client
(``benchmarks/http_load.py``: asyncio streams, keep-alive); gRPC needs its own (``grpc.aio``), so the gRPC-vs-native ratio also holds the clients'
difference. On a 2-core machine client and server share the CPU: compare rows of one run,
and note the machine's load (printed) beside any number. Targets (issue 17): at c=32 each
protocol >= 0.9x the native throughput with p99 <= 1.2x; gRPC p50 at c=1 below REST's.

    python benchmarks/protocols.py                     # ~1.5 minutes
    python benchmarks/protocols.py --duration 5 --rounds 5 --trees 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))  # the sibling module http_load
N_FEATURES = 20
NAMES = [f"f{i}" for i in range(N_FEATURES)]
TICK = os.sysconf("SC_CLK_TCK")

LAUNCH = """
import importlib, sys
root = importlib.import_module("modelward.cli.app")
from modelward.cli import gateway
register = root._register
def wired():
    register()
    if "serve" not in {c.name for c in root.app.registered_commands}:
        gateway.register(root.app)
root._register = wired
root.main(sys.argv[1:])
"""


def build(work: Path, trees: int) -> tuple[Path, str]:
    """A workspace with the model registered, one endpoint and an admin token."""
    import warnings

    warnings.filterwarnings("ignore")
    import mlflow
    from sklearn.ensemble import GradientBoostingClassifier

    from modelward.config import init_workspace
    from modelward.registry import tracking, versions
    from modelward.registry.serialization import trusted_types_for
    from modelward.security.roles import Principal, Role
    from modelward.security.tokens import bootstrap_admin
    from modelward.serving import create_endpoint, parse_spec
    from modelward.session import open_session

    root = init_workspace(work / "ws", project="bench")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2_000, N_FEATURES))
    y = (x[:, :5].sum(axis=1) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=0).fit(x, y)
    with open_session(root, environ={"MODELWARD_IDENTITY__USER": "bench"}) as session:
        with tracking.using_workspace(session.workspace), mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model, name="model", skops_trusted_types=trusted_types_for(model)
            )
        versions.register(session, "bench", model_uri=info.model_uri)
        _, token = bootstrap_admin(session)
        create_endpoint(
            session,
            Principal("bench", Role.ADMIN),
            parse_spec(
                {
                    "name": "bench",
                    "model": "bench@1",
                    "request": dict.fromkeys(NAMES, "float"),
                    "latency_budget_ms": 1000,
                }
            ),
        )
    return root, token


def process_cpu_s(pid: int) -> float:
    """User+system CPU seconds of process ``pid`` (1 worker: the server is this process)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def context_switches(pid: int) -> int:
    """Context switches of every thread of process ``pid`` so far (voluntary or not)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # the thread ended meanwhile
            continue
        for line in text.splitlines():
            if "ctxt_switches:" in line:
                total += int(line.split()[1])
    return total


def batch_rows(base: str) -> tuple[float, float]:
    """Rows scored and model calls made so far (the gateway's batch-size histogram)."""
    import re

    import httpx

    text = httpx.get(f"{base}/metrics", timeout=10.0).text
    total = sum(map(float, re.findall(r"modelward_gateway_batch_rows_sum\{[^}]*\} (\S+)", text)))
    calls = sum(map(float, re.findall(r"modelward_gateway_batch_rows_count\{[^}]*\} (\S+)", text)))
    return total, calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(root: Path, port: int, grpc_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")},
        "MODELWARD_WORKSPACE": str(root),
        "MODELWARD_IDENTITY__USER": "bench",
        "MODELWARD_SERVING__GRPC_PORT": str(grpc_port),
        "MODELWARD_SERVING__ACCESS_LOG": "false",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "serve", "--port", str(port), "--workers", "1"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path, timeout_s: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"serve was not ready within {timeout_s} s:\n{log.read_text()[-3000:]}")


def rest_bodies(values: list[float]) -> dict[str, tuple[str, bytes]]:
    row = dict(zip(NAMES, values, strict=True))
    return {
        "native": ("/v1/endpoints/bench/predict", json.dumps({"inputs": row}).encode()),
        "oip-rest": (
            "/v2/models/bench/infer",
            json.dumps(
                {
                    "inputs": [
                        {"name": "x", "datatype": "FP64", "shape": [1, N_FEATURES], "data": values}
                    ]
                }
            ).encode(),
        ),
        "mlflow": (
            "/invocations",
            json.dumps({"dataframe_split": {"columns": NAMES, "data": [values]}}).encode(),
        ),
    }


async def grpc_load(
    port: int, token: str, values: list[float], conns: int, duration_s: float
) -> dict[str, Any]:
    import grpc

    from modelward.serving.oip_proto import grpc_predict_v2_pb2 as pb

    request = pb.ModelInferRequest(
        model_name="bench",
        inputs=[
            pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP64", shape=[1, N_FEATURES])
        ],
        raw_input_contents=[np.asarray(values, dtype="<f8").tobytes()],
    ).SerializeToString()
    metadata = (("authorization", f"Bearer {token}"),)
    latencies: list[float] = []
    failed = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        await infer(request, metadata=metadata)  # connect before the clock starts
        stop_at = time.perf_counter() + duration_s

        async def one() -> None:
            nonlocal failed
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    await infer(request, metadata=metadata)
                except grpc.aio.AioRpcError:
                    failed += 1
                    continue
                latencies.append(time.perf_counter() - t0)

        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(conns)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000.0
            if latencies
            else 0.0
        )

    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "requests": len(latencies),
        "non_2xx": failed,
        "client": "grpc.aio",
    }


def grpc_sync_load(port: int, token: str, values: list[float], duration_s: float) -> dict[str, Any]:
    """One caller, blocking unary calls: gRPC's C core without an event loop in the way."""
    import grpc

    from modelward.serving.oip_proto import grpc_predict_v2_pb2 as pb

    request = pb.ModelInferRequest(
        model_name="bench",
        inputs=[
            pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP64", shape=[1, N_FEATURES])
        ],
        raw_input_contents=[np.asarray(values, dtype="<f8").tobytes()],
    ).SerializeToString()
    metadata = (("authorization", f"Bearer {token}"),)
    latencies: list[float] = []
    failed = 0
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        infer(request, metadata=metadata)
        began = time.perf_counter()
        stop_at = began + duration_s
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            try:
                infer(request, metadata=metadata)
            except grpc.RpcError:
                failed += 1
                continue
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000.0 if latencies else 0.0,
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000.0
        if latencies
        else 0.0,
        "requests": len(latencies),
        "non_2xx": failed,
        "client": "grpc (blocking)",
    }


FLOOR = """
import asyncio, sys
import grpc

async def main():
    server = grpc.aio.server()
    async def answer(request, context):
        return b"\\x12\\x01" + b"1"  # a fixed, tiny ModelInferResponse
    handler = grpc.method_handlers_generic_handler(
        "inference.GRPCInferenceService",
        {"ModelInfer": grpc.unary_unary_rpc_method_handler(answer)},
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:" + sys.argv[1])
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()

import uvloop
uvloop.install()
asyncio.run(main())
"""


def grpc_floor(token: str, values: list[float], conns: int, duration_s: float) -> dict[str, Any]:
    """The same gRPC load on a bare ``grpc.aio`` server with a fixed answer: grpcio's cost."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", FLOOR, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        if proc.stdout is None or proc.stdout.readline().strip() != "ready":
            raise SystemExit("the bare gRPC server did not start")
        before = process_cpu_s(proc.pid)
        switches = context_switches(proc.pid)
        if conns == 1:
            got = grpc_sync_load(port, token, values, duration_s)
        else:
            got = asyncio.run(grpc_load(port, token, values, conns, duration_s))
        got["server_cpu_us"] = (process_cpu_s(proc.pid) - before) / max(got["requests"], 1) * 1e6
        got["switches_per_request"] = (context_switches(proc.pid) - switches) / max(
            got["requests"], 1
        )
        got["rows_per_model_call"] = 0.0  # no model
        return got
    finally:
        proc.kill()
        proc.wait()


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median over rounds (the machine is shared: one round can be unlucky)."""
    out = dict(runs[0])
    keys = ("rps", "p50_ms", "p99_ms", "server_cpu_us", "switches_per_request")
    for key in (*keys, "rows_per_model_call"):
        out[key] = float(np.median([r[key] for r in runs]))
    out["requests"] = sum(r["requests"] for r in runs)
    out["non_2xx"] = sum(r["non_2xx"] for r in runs)
    out["rounds"] = [{k: r[k] for k in keys} for r in runs]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per point")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--trees", type=int, default=20, help="trees of the model")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 1])
    parser.add_argument("--out", type=Path, default=RESULTS / "protocols.json")
    args = parser.parse_args()
    from http_load import run_builtin

    console = Console(width=150)  # the table stays whole when printed to a file
    values = np.random.default_rng(1).normal(size=N_FEATURES).round(6).tolist()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root, token = build(work, args.trees)
        port, grpc_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        log = work / "serve.log"
        proc = start(root, port, grpc_port, log)
        results: dict[str, dict[str, Any]] = {}

        def order(item: tuple[str, Any]) -> tuple[int, int]:
            kind, c = item[0].split("@")
            kinds = ["native", "oip-rest", "mlflow", "oip-grpc", "grpc-floor"]
            return (-int(c[1:]), kinds.index(kind))

        try:
            wait_ready(proc, base, log)
            bodies = rest_bodies(values)
            kinds = [*bodies, "oip-grpc"]
            for path, body in bodies.values():
                run_builtin(base, path, body, token, 4, 1.0)  # warm every route and the model
            asyncio.run(grpc_load(grpc_port, token, values, 4, 1.0))
            runs: dict[str, list[dict[str, Any]]] = {}
            for round_ in range(args.rounds):
                for conns in args.concurrency:
                    # each round starts with another protocol: no kind always runs first
                    shift = round_ % len(kinds)
                    for kind in kinds[shift:] + kinds[:shift]:
                        cpu_before = process_cpu_s(proc.pid)
                        switches_before = context_switches(proc.pid)
                        rows_before, calls_before = batch_rows(base)
                        if kind == "oip-grpc" and conns == 1:
                            got = grpc_sync_load(grpc_port, token, values, args.duration)
                        elif kind == "oip-grpc":
                            got = asyncio.run(
                                grpc_load(grpc_port, token, values, conns, args.duration)
                            )
                        else:
                            path, body = bodies[kind]
                            got = run_builtin(base, path, body, token, conns, args.duration)
                        spent = process_cpu_s(proc.pid) - cpu_before
                        answered = max(got["requests"], 1)
                        got["server_cpu_us"] = spent / answered * 1e6
                        switched = context_switches(proc.pid) - switches_before
                        got["switches_per_request"] = switched / answered
                        rows_after, calls_after = batch_rows(base)
                        got["rows_per_model_call"] = (rows_after - rows_before) / max(
                            calls_after - calls_before, 1
                        )
                        runs.setdefault(f"{kind}@c{conns}", []).append(got)
            for conns in args.concurrency:
                runs[f"grpc-floor@c{conns}"] = [
                    grpc_floor(token, values, conns, args.duration) for _ in range(args.rounds)
                ]
            results = {key: median_of(value) for key, value in sorted(runs.items(), key=order)}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    load_after = os.getloadavg()

    title = (
        f"protocols, 1 worker, {args.trees} trees, median of {args.rounds} x {args.duration:g} s"
    )
    table = Table(title=title)
    columns = (
        "point",
        "req/s",
        "p50 ms",
        "p99 ms",
        "server CPU µs/req",
        "switches/req",
        "rows/call",
    )
    for col in (*columns, "vs native req/s", "vs native p99", "vs native CPU", "errors"):
        table.add_column(col, justify="right" if col != "point" else "left")
    for key, r in results.items():
        kind, c = key.split("@")
        native = results[f"native@{c}"]
        r["throughput_ratio"] = r["rps"] / native["rps"] if native["rps"] else 0.0
        r["p99_ratio"] = r["p99_ms"] / native["p99_ms"] if native["p99_ms"] else 0.0
        r["cpu_ratio"] = (
            r["server_cpu_us"] / native["server_cpu_us"] if native["server_cpu_us"] else 0.0
        )
        table.add_row(
            key,
            f"{r['rps']:.0f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['server_cpu_us']:.0f}",
            f"{r['switches_per_request']:.1f}",
            f"{r['rows_per_model_call']:.1f}",
            f"{r['throughput_ratio']:.2f}x",
            f"{r['p99_ratio']:.2f}x",
            f"{r['cpu_ratio']:.2f}x",
            str(r["non_2xx"]),
        )
    console.print(table)
    checks = {}
    if "native@c32" in results:
        for kind in ("oip-rest", "oip-grpc", "mlflow"):
            r = results[f"{kind}@c32"]
            checks[f"{kind} c=32 throughput >= 0.9x native"] = r["throughput_ratio"] >= 0.9
            checks[f"{kind} c=32 p99 <= 1.2x native"] = r["p99_ratio"] <= 1.2
    if "native@c1" in results:
        checks["oip-grpc c=1 p50 < oip-rest p50"] = (
            results["oip-grpc@c1"]["p50_ms"] < results["oip-rest@c1"]["p50_ms"]
        )
    for name, ok in checks.items():
        console.print(f"{'met ' if ok else 'MISSED'}  {name}")
    console.print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    doc = {
        "trees": args.trees,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cpus": os.cpu_count(),
        "results": results,
        "targets": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc))


if __name__ == "__main__":
    main()

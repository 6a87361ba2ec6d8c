"""The gateway's protocols beside its native route, on the same model, server and client.

One ``modelward serve`` process (1 worker, gRPC on ``serving.grpc_port``) serves one
endpoint: a GradientBoostingClassifier (``--trees`` trees, depth 3, 20 numeric inputs),
micro-batching on (the default). Each point is closed-loop load for ``--duration`` seconds
on 127.0.0.1, at concurrency 32 and 1:

* ``native``: ``POST /v1/endpoints/bench/predict`` with ``{"inputs": {...}}`` — the limit
  the other protocols are held to (same validation, auth, metrics, prediction log);
* ``oip-rest``: ``POST /v2/models/bench/infer``, one ``[1, 20]`` FP64 tensor (JSON);
* ``mlflow``: ``POST /invocations``, ``dataframe_split`` with one row;
* ``oip-grpc``: ``ModelInfer`` with one ``[1, 20]`` FP64 tensor in ``raw_input_contents``,
  over one HTTP/2 connection (a gRPC channel), ``c`` calls in flight;
* ``grpc-floor`` and ``grpc-floor-threaded``: the same gRPC load on a bare grpcio server
  (``grpc.aio`` on uvloop; the threaded ``grpc.server``) that answers a fixed reply with no
  gateway behind it: what grpcio itself costs per call, the floor under any gRPC server
  written with grpcio in Python;
* ``http-floor``: the native route's load on a bare uvicorn app (httptools, uvloop, as
  ``serve`` runs) answering a fixed reply: the same floor for the HTTP routes. The gRPC
  floor against this one is the most any gRPC server in grpcio can gain on REST.

The client (``--client h2load``, the default) is ``h2load``, nghttp2's C load generator,
for every protocol: HTTP/1.1 keep-alive connections for REST, one HTTP/2 connection for
gRPC (``benchmarks/h2load_client.py``). One client in C keeps the ratios about the
servers: the Python clients (``--client python``: ``benchmarks/http_load.py`` for REST,
``grpc.aio`` or the blocking client for gRPC) differ several-fold in CPU per call and share
the machine's cores with the server, so a gRPC-against-REST ratio measured with them holds
the two clients' difference as well. h2load sees only HTTP statuses (a failed gRPC call
still answers 200), so a gRPC point's errors are the calls the gateway did not count as
answered 200 (its request counter), and before the first round one call through grpcio's
client checks that the gRPC answer is the native route's prediction.

Each point runs ``--rounds`` times, the order of the protocols rotated per round; the table
shows the medians (the JSON keeps every round).

Server CPU per request (the ``serve`` process's user+system time over the requests it
answered) is the steadiest figure on a shared machine. Two columns say where it goes: the
server's thread context switches per request (a hand-over between threads costs a switch
or two, and on a busy machine each is dear) and the rows per model call (requests that
arrive together share one call of the micro-batcher; one call of the benchmark's model
costs about 0.2 ms whatever its rows). On a 2-core machine client and server share the
CPU: compare rows of one run, and note the machine's load (printed) beside any number.
Targets (issue 17): at c=32 each protocol >= 0.9x the native throughput with p99 <= 1.2x;
gRPC p50 at c=1 below REST's.

    python benchmarks/protocols.py                     # ~2 minutes
    python benchmarks/protocols.py --duration 5 --rounds 5 --trees 100
"""

from __future__ import annotations

import argparse
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

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))  # the sibling modules
from grpc_clients import INFER, check_answer, grpc_aio_load, grpc_sync_load, infer_request  # noqa: E402
from h2load_client import available as h2load_available  # noqa: E402
from h2load_client import grpc_frame, run_h2load  # noqa: E402
from http_load import run_builtin  # noqa: E402

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


def gateway_counts(base: str) -> tuple[float, float, float]:
    """Rows scored, model calls made and requests answered 200 so far (its metrics)."""
    import re

    import httpx

    text = httpx.get(f"{base}/metrics", timeout=10.0).text

    def total(pattern: str) -> float:
        return sum(map(float, re.findall(pattern, text)))

    return (
        total(r"modelward_gateway_batch_rows_sum\{[^}]*\} (\S+)"),
        total(r"modelward_gateway_batch_rows_count\{[^}]*\} (\S+)"),
        total(r'modelward_gateway_requests_total\{[^}]*status="200"[^}]*\} (\S+)'),
    )


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


FLOOR = """
import asyncio, sys
from concurrent.futures import ThreadPoolExecutor
import grpc

def answer(request, context):
    return b"\\x12\\x01" + b"1"  # a fixed, tiny ModelInferResponse

async def answer_async(request, context):
    return answer(request, context)

def handlers(fn):
    return (grpc.method_handlers_generic_handler(
        "inference.GRPCInferenceService", {"ModelInfer": grpc.unary_unary_rpc_method_handler(fn)}
    ),)

async def serve_aio():
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(handlers(answer_async))
    server.add_insecure_port("127.0.0.1:" + sys.argv[1])
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()

if sys.argv[2] == "aio":
    import uvloop
    uvloop.install()
    asyncio.run(serve_aio())
else:
    server = grpc.server(ThreadPoolExecutor(64))
    server.add_generic_rpc_handlers(handlers(answer))
    server.add_insecure_port("127.0.0.1:" + sys.argv[1])
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()
"""
HTTP_FLOOR = """
import sys
import uvicorn

ANSWER = b'{"prediction": 0.5}'
HEAD = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEAD})
    await send({"type": "http.response.body", "body": ANSWER})

print("ready", flush=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
            log_level="warning", access_log=False, lifespan="off")
"""
#: the gRPC floor's answer as h2load receives it (the length-prefixed 3-byte message)
FLOOR_ANSWER_BYTES = 8
#: the bare servers: grpcio's two (fixed reply), and uvicorn's (what the HTTP routes run on)
FLOORS = {"grpc-floor": "aio", "grpc-floor-threaded": "threaded", "http-floor": "http"}


def start_floor(style: str) -> tuple[subprocess.Popen[str], int]:
    """A bare server answering a fixed reply (grpcio ``aio`` or ``threaded``, or uvicorn
    ``http``, 1 process like ``serve --workers 1``): its process and port."""
    port = free_port()
    script = HTTP_FLOOR if style == "http" else FLOOR
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(port), style], stdout=subprocess.PIPE, text=True
    )
    if proc.stdout is None or proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise SystemExit(f"the bare server ({style}) did not start")
    if style == "http":  # "ready" comes before uvicorn binds: wait for the port
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
    return proc, port


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


class Points:
    """Runs one point (a protocol at a concurrency) with the chosen client, and measures
    the server that answered it: CPU and context switches per request, rows per model
    call, and the calls the gateway did not answer 200 (what h2load cannot see in gRPC)."""

    def __init__(
        self, client: str, base: str, grpc_port: int, token: str, values: list[float]
    ) -> None:
        self.client, self.base, self.grpc_port, self.token = client, base, grpc_port, token
        self.bodies = rest_bodies(values)
        self.infer = infer_request(values)
        self.floors: dict[str, tuple[subprocess.Popen[str], int]] = {}

    def load(self, kind: str, port: int, conns: int, duration_s: float) -> dict[str, Any]:
        """Closed-loop load of ``kind`` on ``port`` (the HTTP port, or a gRPC one)."""
        auth = {"authorization": f"Bearer {self.token}"}
        if kind in self.bodies:
            path, body = self.bodies[kind]
            if self.client == "python":
                return run_builtin(
                    f"http://127.0.0.1:{port}", path, body, self.token, conns, duration_s
                )
            return run_h2load(
                f"http://127.0.0.1:{port}{path}",
                body,
                {"content-type": "application/json", **auth},
                concurrency=conns,
                duration_s=duration_s,
            )
        if self.client == "python":
            if conns == 1:
                return grpc_sync_load(port, self.token, self.infer, duration_s)
            return grpc_aio_load(port, self.token, self.infer, conns, duration_s)
        return run_h2load(
            f"http://127.0.0.1:{port}{INFER}",
            grpc_frame(self.infer),
            {"content-type": "application/grpc", "te": "trailers", **auth},
            concurrency=conns,
            duration_s=duration_s,
            grpc=True,
        )

    def gateway(self, pid: int, kind: str, conns: int, duration_s: float) -> dict[str, Any]:
        cpu, switches = process_cpu_s(pid), context_switches(pid)
        rows, calls, ok = gateway_counts(self.base)
        port = self.grpc_port if kind == "oip-grpc" else int(self.base.rsplit(":", 1)[1])
        got = self.load(kind, port, conns, duration_s)
        self._server_costs(got, pid, cpu, switches)
        rows_after, calls_after, ok_after = gateway_counts(self.base)
        got["rows_per_model_call"] = (rows_after - rows) / max(calls_after - calls, 1)
        if kind == "oip-grpc" and self.client == "h2load":
            # every call h2load finished must be one the gateway answered 200
            got["non_2xx"] += max(0, got["requests"] - int(ok_after - ok))
        got.pop("data_bytes", None)
        return got

    def floor(self, kind: str, conns: int, duration_s: float) -> dict[str, Any]:
        if kind not in self.floors:
            self.floors[kind] = start_floor(FLOORS[kind])
        proc, port = self.floors[kind]
        cpu, switches = process_cpu_s(proc.pid), context_switches(proc.pid)
        # the HTTP floor takes the native route's request
        got = self.load("native" if kind == "http-floor" else kind, port, conns, duration_s)
        self._server_costs(got, proc.pid, cpu, switches)
        got["rows_per_model_call"] = 0.0  # no model
        if self.client == "h2load" and kind != "http-floor":
            answered = got.pop("data_bytes") // FLOOR_ANSWER_BYTES
            got["non_2xx"] += max(0, got["requests"] - answered)
        return got

    @staticmethod
    def _server_costs(got: dict[str, Any], pid: int, cpu: float, switches: int) -> None:
        answered = max(got["requests"], 1)
        got["server_cpu_us"] = (process_cpu_s(pid) - cpu) / answered * 1e6
        got["switches_per_request"] = (context_switches(pid) - switches) / answered

    def close(self) -> None:
        for proc, _ in self.floors.values():
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per point")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--trees", type=int, default=20, help="trees of the model")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 1])
    parser.add_argument(
        "--client",
        choices=["h2load", "python"],
        default="h2load",
        help="h2load (C, every protocol) or this package's Python clients (see above)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "protocols.json")
    args = parser.parse_args()
    if args.client == "h2load" and not h2load_available():
        raise SystemExit(
            "h2load is not installed (apt-get install nghttp2-client), or use --client python"
        )

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
        kinds = ["native", "oip-rest", "mlflow", "oip-grpc", *FLOORS]

        def order(item: tuple[str, Any]) -> tuple[int, int]:
            kind, c = item[0].split("@")
            return (-int(c[1:]), kinds.index(kind))

        round_loads: list[float] = []
        points = Points(args.client, base, grpc_port, token, values)
        try:
            wait_ready(proc, base, log)
            native = json.loads(
                httpx.post(
                    base + points.bodies["native"][0],
                    content=points.bodies["native"][1],
                    headers={"authorization": f"Bearer {token}"},
                    timeout=30,
                ).text
            )
            check_answer(grpc_port, token, points.infer, native["prediction"])
            for kind in kinds:  # warm every route, the model and the floors
                if kind in FLOORS:
                    points.floor(kind, 4, 1.0)
                else:
                    points.gateway(proc.pid, kind, 4, 1.0)
            runs: dict[str, list[dict[str, Any]]] = {}
            for round_ in range(args.rounds):
                round_loads.append(os.getloadavg()[0])
                console.print(f"round {round_ + 1}: load average {round_loads[-1]:.2f} (1 min)")
                for conns in args.concurrency:
                    # each round starts with another protocol: no kind always runs first
                    shift = round_ % len(kinds)
                    for kind in kinds[shift:] + kinds[:shift]:
                        if kind in FLOORS:
                            got = points.floor(kind, conns, args.duration)
                        else:
                            got = points.gateway(proc.pid, kind, conns, args.duration)
                        runs.setdefault(f"{kind}@c{conns}", []).append(got)
            results = {key: median_of(value) for key, value in sorted(runs.items(), key=order)}
        finally:
            points.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    load_after = os.getloadavg()

    title = (
        f"protocols, 1 worker, {args.trees} trees, median of {args.rounds} x {args.duration:g} s,"
        f" client {args.client}"
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
        "client": args.client,
        "load_average_rounds": round_loads,
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

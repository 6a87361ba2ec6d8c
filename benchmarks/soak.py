"""Soak: ``modelward serve`` under bounded load, with the bad day's events, on 127.0.0.1.

What happens during the run (``--duration`` seconds, 600 by default):

* a steady, bounded load: ``--concurrency`` clients, at most ``--rate`` requests a second
  in total, single-row requests with a token;
* every ``--reload-every`` seconds (30) the endpoint's definition is updated (its latency
  budget alternates), so running gateways rebuild it without a restart;
* at half time the endpoint moves to the model's second version;
* from 60 % to 70 % of the run, Redis (the prediction log) goes away: first its replies
  are lost (the writes reach Redis, the answers never come back: the timeout-and-retry
  path), then its connections are closed and refused. The shared Redis server is never
  touched: the gateway reaches it through a proxy in this process, and the proxy does it.

Then the gateway is stopped with SIGTERM (it flushes the log), and the figures are: the
answers by status (zero 5xx expected), the answered rows against the rows in the log
(answered = logged, no duplicate), reloads seen, and the gateway's RSS after warm-up and
at the end. A table, and JSON in ``benchmarks/results/soak.json``.

    python benchmarks/soak.py                  # 10 minutes
    python benchmarks/soak.py --duration 180   # 3 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
REDIS = ("127.0.0.1", int(os.environ.get("MODELWARD_TEST_REDIS_PORT", "6379")))
N_FEATURES = 8

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


# --- a Redis proxy that can lose replies or drop connections ----------------------------


class RedisProxy:
    """127.0.0.1:<port> -> Redis. ``mode``: ``up`` forwards both ways; ``reply-lost``
    forwards requests and drops replies; ``down`` closes every connection and refuses
    (accepts and closes) new ones."""

    def __init__(self) -> None:
        self.mode = "up"
        self.port = 0
        #: connections forwarded and refused (the gateway reconnecting after the outage)
        self.connections: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the Redis proxy did not start")

    def set_mode(self, mode: str) -> None:
        def apply() -> None:
            self.mode = mode
            if mode == "down":
                for w in list(self._writers):
                    w.close()

        self._loop.call_soon_threadsafe(apply)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "down":
            self.connections["refused"] += 1
            writer.close()
            return
        self.connections["forwarded"] += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*REDIS)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, reply: bool) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    if reply and self.mode == "reply-lost":
                        continue
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))
        self._writers -= {writer, up_writer}


# --- the workspace -------------------------------------------------------------------------


def build(work: Path, proxy_port: int, prefix: str) -> dict[str, Any]:
    """A workspace with two versions of a small model, one endpoint and an admin token."""
    import warnings

    warnings.filterwarnings("ignore")
    import mlflow
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier

    from modelward.config import init_workspace
    from modelward.registry import tracking, versions
    from modelward.registry.serialization import trusted_types_for
    from modelward.security.roles import Principal, Role
    from modelward.security.tokens import bootstrap_admin
    from modelward.serving import create_endpoint, parse_spec
    from modelward.session import open_session

    root = init_workspace(work / "ws", project="soak")
    config = root / "modelward.toml"
    # the soak's log is Redis, declared below: drop the new workspace's segments table
    config.write_text(config.read_text().split("[serving.prediction_log]")[0])
    with config.open("a", encoding="utf-8") as toml:
        toml.write(
            "\n[serving]\npoll_interval_s = 1.0\naccess_log = false\n"
            "\n[serving.prediction_log]\n"
            f'type = "redis"\nurl = "redis://127.0.0.1:{proxy_port}/0"\n'
            f'key_prefix = "{prefix}"\nsocket_timeout_s = 0.5\nconnect_timeout_s = 0.5\n'
        )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2_000, N_FEATURES))
    y = (x[:, :3].sum(axis=1) > 0).astype(int)
    env = {"MODELWARD_IDENTITY__USER": "soak"}
    with open_session(root, environ=env) as session:
        for seed in (0, 1):
            model = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=seed)
            model.fit(x, y)
            with tracking.using_workspace(session.workspace), mlflow.start_run():
                info = mlflow.sklearn.log_model(
                    model, name="model", skops_trusted_types=trusted_types_for(model)
                )
            versions.register(session, "soak", model_uri=info.model_uri)
        _, token = bootstrap_admin(session)
        create_endpoint(session, Principal("soak", Role.ADMIN), parse_spec(spec("soak@1", 1000)))
    return {"root": root, "token": token, "env": env}


def spec(model: str, budget_ms: float) -> dict[str, Any]:
    return {
        "name": "soak",
        "model": model,
        "request": {f"f{i}": "float" for i in range(N_FEATURES)},
        "latency_budget_ms": budget_ms,
        "fallback": {"response": 0.5},
    }


def update(setup: dict[str, Any], model: str, budget_ms: float) -> None:
    from modelward.security.roles import Principal, Role
    from modelward.serving import parse_spec, update_endpoint
    from modelward.session import open_session

    with open_session(setup["root"], environ=setup["env"]) as session:
        update_endpoint(session, Principal("soak", Role.ADMIN), parse_spec(spec(model, budget_ms)))


# --- the gateway process -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (uvicorn's workers), in MiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def start_gateway(setup: dict[str, Any], port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    env |= {"MODELWARD_WORKSPACE": str(setup["root"]), **setup["env"]}
    cmd = [sys.executable, "-c", LAUNCH, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=setup["root"],
            start_new_session=True,
        )
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited with {proc.returncode}; see {log}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        time.sleep(0.2)
    raise RuntimeError(f"the gateway was not ready in 120 s; see {log}")


def stop_gateway(proc: subprocess.Popen[bytes]) -> int:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


# --- the load ------------------------------------------------------------------------------


async def load(
    port: int,
    token: str,
    duration_s: float,
    rate: float,
    concurrency: int,
    events: list[tuple[float, str, Any]],
    stats: dict[str, Any],
) -> None:
    import httpx

    url = f"http://127.0.0.1:{port}/v1/endpoints/soak/predict"
    headers = {"Authorization": f"Bearer {token}"}
    began = time.monotonic()
    end = began + duration_s
    interval = concurrency / rate  # each client's pace, so the total stays at `rate`
    statuses: Counter[int] = stats["statuses"]
    answered: set[str] = stats["answered"]
    versions: Counter[str] = stats["versions"]

    async def client(i: int, http: httpx.AsyncClient) -> None:
        n = 0
        nxt = began + i * interval / concurrency
        while (now := time.monotonic()) < end:
            if now < nxt:
                await asyncio.sleep(nxt - now)
            nxt += interval
            n += 1
            row = {f"f{k}": ((i * 7919 + n * 31 + k) % 200) / 100 - 1 for k in range(N_FEATURES)}
            try:
                r = await http.post(url, json={"inputs": row}, headers=headers)
            except httpx.TransportError as exc:
                stats["transport_errors"][type(exc).__name__] += 1
                continue
            statuses[r.status_code] += 1
            if r.status_code == 200:
                body = r.json()
                answered.add(body["request_id"])
                versions[str(body.get("model_version"))] += 1
                stats["degraded"] += int(body["degraded"])

    async def scheduler() -> None:
        for at, kind, arg in sorted(events, key=lambda e: e[0]):
            delay = began + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            t = round(time.monotonic() - began, 1)
            if kind == "proxy":
                stats["proxy"](arg)
            else:
                await asyncio.to_thread(stats["update"], *arg)
            stats["timeline"].append((t, kind, arg))

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        await asyncio.gather(scheduler(), *(client(i, http) for i in range(concurrency)))


# --- the run -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--reload-every", type=float, default=30.0)
    args = parser.parse_args()
    duration = args.duration
    console = Console()
    prefix = f"mwsoak{uuid.uuid4().hex[:8]}"
    proxy = RedisProxy()
    proxy.start()
    with tempfile.TemporaryDirectory(prefix="mw-soak-") as tmp:
        work = Path(tmp)
        console.print("building the workspace (two model versions, one endpoint) ...")
        setup = build(work, proxy.port, prefix)
        port = free_port()
        log = work / "gateway.log"
        proc = start_gateway(setup, port, log)
        events: list[tuple[float, str, Any]] = []
        budget = 1000.0
        t = args.reload_every
        model = "soak@1"
        while t < duration:
            budget = 999.0 if budget == 1000.0 else 1000.0
            if t >= duration / 2 and model == "soak@1":
                model = "soak@2"
            events.append((t, "update", (setup, model, budget)))
            t += args.reload_every
        if model == "soak@1":  # a run shorter than one reload period still changes version
            events.append((duration / 2, "update", (setup, "soak@2", budget)))
        outage = max(duration * 0.1, 4.0)
        events += [
            (duration * 0.6, "proxy", "reply-lost"),
            (duration * 0.6 + outage / 2, "proxy", "down"),
            (duration * 0.6 + outage, "proxy", "up"),
        ]
        stats: dict[str, Any] = {
            "statuses": Counter(),
            "answered": set(),
            "versions": Counter(),
            "degraded": 0,
            "transport_errors": Counter(),
            "timeline": [],
            "proxy": proxy.set_mode,
            "update": update,
        }
        time.sleep(2.0)  # let the first reload poll and the writer settle before measuring
        rss_start = rss_mb(proc.pid)
        rss_peak = rss_start
        console.print(f"load for {duration:g} s at {args.rate:g} req/s, RSS {rss_start:.1f} MiB")

        def watch() -> None:
            nonlocal rss_peak
            while proc.poll() is None:
                rss_peak = max(rss_peak, rss_mb(proc.pid))
                time.sleep(1.0)

        threading.Thread(target=watch, daemon=True).start()
        asyncio.run(
            load(port, setup["token"], duration, args.rate, args.concurrency, events, stats)
        )
        import httpx

        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        rss_end = rss_mb(proc.pid)
        code = stop_gateway(proc)
        logged = read_log(prefix)
        proxy.set_mode("up")
        gateway_log = log.read_text(errors="replace")
    answered: set[str] = stats["answered"]
    statuses: Counter[int] = stats["statuses"]
    figures = {
        "duration_s": duration,
        "rate_rps": args.rate,
        "requests": sum(statuses.values()) + sum(stats["transport_errors"].values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "5xx": sum(v for k, v in statuses.items() if k >= 500),
        "transport_errors": dict(stats["transport_errors"]),
        "degraded": stats["degraded"],
        "answered_rows": len(answered),
        "logged_rows": logged["count"],
        "logged_distinct": logged["distinct"],
        "missing_from_log": len(answered - logged["ids"]),
        "duplicates_in_log": logged["count"] - logged["distinct"],
        "answers_by_model_version": dict(stats["versions"]),
        "reloads": metric(metrics, "modelward_gateway_reloads_total"),
        "log_dropped": metric(metrics, "modelward_prediction_log_dropped_total"),
        "log_quarantined": metric(metrics, "modelward_prediction_log_quarantined_total"),
        "log_write_errors_retried": metric(metrics, "modelward_prediction_log_write_errors_total"),
        "proxy_connections": dict(proxy.connections),
        "gateway_errors_logged": gateway_log.count(" ERROR ") + gateway_log.count("Traceback"),
        "rss_mib_start": round(rss_start, 1),
        "rss_mib_end": round(rss_end, 1),
        "rss_mib_peak": round(rss_peak, 1),
        "gateway_exit_code": code,
        "timeline": [
            (t, k, a if k == "proxy" else f"{a[1]} budget {a[2]:g}")
            for t, k, a in stats["timeline"]
        ],
    }
    show(console, figures)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")


def read_log(prefix: str) -> dict[str, Any]:
    from modelward.monitoring import open_prediction_sink

    url = f"redis://{REDIS[0]}:{REDIS[1]}/0"
    sink: Any = open_prediction_sink({"type": "redis", "url": url, "key_prefix": prefix}, HERE)
    try:
        ids = [r.request_id for r in sink.read("soak")]
        sink.drop()
    finally:
        sink.close()
    return {"count": len(ids), "distinct": len(set(ids)), "ids": set(ids)}


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def show(console: Console, figures: dict[str, Any]) -> None:
    table = Table(title="soak", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        if key != "timeline":
            table.add_row(key, str(value))
    console.print(table)
    for t, kind, what in figures["timeline"]:
        console.print(f"  t={t:>6}s  {kind:<7} {what}")


if __name__ == "__main__":
    main()

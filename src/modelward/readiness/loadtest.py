"""``modelward loadtest``: an endpoint under a bounded load, measured and kept as evidence.

The load is a fixed request set (the version's golden-set rows when its pipeline stored
them, else rows made from the endpoint's request schema with a fixed seed) sent by
``concurrency`` clients for ``duration`` seconds, either as fast as answers come back
(closed loop: the throughput the configuration sustains) or paced at ``rate`` requests a
second (open loop: the latency at that rate, measured from when each request was due, so
a stalled server cannot hide its queue). Latency percentiles, throughput and the error
rate are recorded per version and configuration (workers, batching) as ``load_test``
evidence, which the readiness report and the ``readiness`` gate read.

Without ``url`` the workspace's gateway is started as a subprocess on a free loopback
port (``modelward serve``, with the asked number of workers), so what is measured is what
``serve`` runs, over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelward.errors import InputError, ServiceUnavailable

if TYPE_CHECKING:
    import httpx

    from modelward.registry import Evidence
    from modelward.serving import Endpoint
    from modelward.session import Session

__all__ = [
    "MAX_CONCURRENCY",
    "MAX_DURATION_S",
    "LoadResult",
    "drive",
    "load_test",
    "request_rows",
    "started_gateway",
    "summarize",
]

MAX_CONCURRENCY = 256
MAX_DURATION_S = 300.0
#: a load test passes when at most this share of requests failed (and p99 is in budget)
MAX_ERROR_RATE = 0.01
_ROWS = 64
_WARMUP = 5


@dataclass(frozen=True)
class LoadResult:
    """One load test: the configuration, what was measured and the machine it ran on."""

    endpoint: str
    #: the version that answered (``churn@3``); the majority when a plan split traffic
    version: str | None
    concurrency: int
    duration_s: float
    workers: int | None
    batching: bool
    #: requests per second asked for (open loop), or None (as fast as answers come)
    rate: float | None
    requests: int
    errors: int
    #: requests an open loop could not send on time (every client was still waiting)
    late: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    throughput_rps: float
    latency_budget_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    answered_by: dict[str, int] = field(default_factory=dict)
    target: str = "loopback"
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cpus: int = 1

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 1.0

    @property
    def passed(self) -> bool:
        """Errors within :data:`MAX_ERROR_RATE`, p99 within budget, and the rate sustained."""
        return (
            self.requests > 0
            and self.error_rate <= MAX_ERROR_RATE
            and self.p99_ms <= self.latency_budget_ms
            and self.late <= MAX_ERROR_RATE * self.requests
        )

    @property
    def configuration(self) -> str:
        workers = "?" if self.workers is None else str(self.workers)
        return f"workers={workers} batching={'on' if self.batching else 'off'}"

    def summary(self) -> str:
        rate = f" at {self.rate:g} rps asked" if self.rate else ""
        return (
            f"{self.configuration}, concurrency {self.concurrency}{rate}: p50 "
            f"{self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, p99 {self.p99_ms:.1f} ms "
            f"(budget {self.latency_budget_ms:g} ms), {self.throughput_rps:.0f} rps, "
            f"errors {self.error_rate:.2%}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "version": self.version,
            "configuration": {
                "workers": self.workers,
                "batching": self.batching,
                "concurrency": self.concurrency,
                "rate": self.rate,
            },
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "errors": self.errors,
            "late": self.late,
            "error_rate": self.error_rate,
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "throughput_rps": round(self.throughput_rps, 2),
            "latency_budget_ms": self.latency_budget_ms,
            "passed": self.passed,
            "statuses": self.statuses,
            "answered_by": self.answered_by,
            "target": self.target,
            "load_average": list(self.load_average),
            "cpus": self.cpus,
        }


def _bounded(concurrency: int, duration_s: float, rate: float | None) -> None:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InputError(
            f"concurrency: between 1 and {MAX_CONCURRENCY}, not {concurrency}", field="concurrency"
        )
    if not (math.isfinite(duration_s) and 0.2 <= duration_s <= MAX_DURATION_S):
        raise InputError(
            f"duration: between 0.2 and {MAX_DURATION_S:g} seconds, not {duration_s}",
            field="duration",
        )
    if rate is not None and not (math.isfinite(rate) and 0 < rate <= 100_000):
        raise InputError(f"rate: between 0 and 100000 requests/s, not {rate}", field="rate")


# ------------------------------------------------------------------------ the request set


def _value(kind: str, rng: random.Random) -> Any:
    match kind:
        case "int" | "long" | "integer":
            return rng.randint(0, 50)
        case "bool" | "boolean":
            return rng.random() < 0.5
        case "string" | "str":
            return rng.choice(["a", "b", "c"])
        case _:
            return round(rng.uniform(0, 100), 3)


def _schema(session: Session, endpoint: Endpoint, model_uri: str) -> dict[str, str]:
    spec = endpoint.spec
    if isinstance(spec.request, dict):
        return dict(spec.request)
    from modelward.registry import using_workspace

    with using_workspace(session.workspace):
        import mlflow

        signature = mlflow.models.get_model_info(model_uri).signature
    inputs = signature.inputs.to_dict() if signature is not None and signature.inputs else []
    return {
        str(col["name"]): str(col.get("type", "double"))
        for col in inputs
        if col.get("name") and col["name"] not in spec.entity_keys
    } | {key: "int" for key in spec.entity_keys}


def request_rows(session: Session, endpoint: Endpoint, version_ref: str) -> list[dict[str, Any]]:
    """The fixed request set: golden-set rows when the version has them, else schema rows."""
    from modelward.registry import get_version

    version = get_version(session, version_ref)
    schema = _schema(session, endpoint, version.model_uri)
    golden = _golden_rows(session, version.run_id)
    if golden:
        return [
            {k: row.get(k, _value(t, random.Random(i))) for k, t in schema.items()}  # noqa: S311
            for i, row in enumerate(golden[:_ROWS])
        ]
    rng = random.Random(20261202)  # noqa: S311 - a fixed request set, not a secret
    return [{k: _value(t, rng) for k, t in schema.items()} for _ in range(_ROWS)]


def _golden_rows(session: Session, run_id: str | None) -> list[dict[str, Any]]:
    if not run_id:
        return []
    from modelward.registry import using_workspace

    try:
        with using_workspace(session.workspace):
            import mlflow

            stored = mlflow.artifacts.load_dict(f"runs:/{run_id}/modelward/golden_set.json")
    except Exception:  # no golden set stored (a model logged by plain MLflow code)
        return []
    rows = stored.get("rows") if isinstance(stored, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


# --------------------------------------------------------------------------- the driver


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    late: int = 0


async def _one(
    client: httpx.AsyncClient, path: str, body: bytes, due: float, tally: _Tally
) -> None:
    import httpx
    import orjson

    try:
        answer = await client.post(path, content=body)
    except httpx.HTTPError as exc:
        tally.statuses[type(exc).__name__] += 1
        tally.errors += 1
        tally.latencies.append(time.perf_counter() - due)
        return
    tally.latencies.append(time.perf_counter() - due)
    tally.statuses[str(answer.status_code)] += 1
    if answer.status_code != 200:
        tally.errors += 1
        return
    try:
        data = orjson.loads(answer.content)
    except orjson.JSONDecodeError:
        tally.errors += 1
        return
    if data.get("degraded"):
        tally.errors += 1  # a fallback answered (the model failed or overran its budget)
        return
    tally.versions[f"{data.get('model')}@{data.get('model_version')}"] += 1


async def drive(
    client: httpx.AsyncClient,
    path: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    duration_s: float,
    rate: float | None = None,
) -> tuple[_Tally, float]:
    """Send ``bodies`` round-robin to ``path`` for ``duration_s``; the tally and elapsed time.

    Closed loop (``rate`` None): ``concurrency`` clients each send the next request as soon
    as their answer is back. Open loop: a request is due every ``1/rate`` s; it is sent by
    a free client, or counted ``late`` when all ``concurrency`` are still waiting, and its
    latency runs from when it was due.
    """
    _bounded(concurrency, duration_s, rate)
    tally, counter = _Tally(), iter(range(1 << 62))
    started = time.perf_counter()
    deadline = started + duration_s

    def body() -> bytes:
        return bodies[next(counter) % len(bodies)]

    if rate is None:

        async def client_loop() -> None:
            while time.perf_counter() < deadline:
                await _one(client, path, body(), time.perf_counter(), tally)

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    else:
        free = asyncio.Semaphore(concurrency)
        pending: set[asyncio.Task[None]] = set()

        async def send(due: float) -> None:
            try:
                await _one(client, path, body(), due, tally)
            finally:
                free.release()

        due = started
        while due < deadline:
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)  # pacing the arrivals, not waiting on a result
            if free.locked():
                tally.late += 1
            else:
                await free.acquire()
                task = asyncio.create_task(send(due))
                pending.add(task)
                task.add_done_callback(pending.discard)
            due += 1.0 / rate
        if pending:
            await asyncio.gather(*pending)
    return tally, time.perf_counter() - started


def summarize(
    tally: _Tally,
    elapsed_s: float,
    *,
    endpoint: str,
    concurrency: int,
    rate: float | None,
    workers: int | None,
    batching: bool,
    latency_budget_ms: float,
    target: str,
) -> LoadResult:
    """Percentiles (numpy's linear interpolation), throughput and errors of one run."""
    import numpy as np

    ms = np.asarray(tally.latencies, dtype=float) * 1000.0
    p50, p95, p99 = (float(np.percentile(ms, q)) for q in (50, 95, 99)) if ms.size else (0, 0, 0)
    version = tally.versions.most_common(1)[0][0] if tally.versions else None
    return LoadResult(
        endpoint=endpoint,
        version=version,
        concurrency=concurrency,
        duration_s=elapsed_s,
        workers=workers,
        batching=batching,
        rate=rate,
        requests=len(tally.latencies),
        errors=tally.errors,
        late=tally.late,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        mean_ms=float(ms.mean()) if ms.size else 0.0,
        throughput_rps=(len(tally.latencies) - tally.errors) / elapsed_s if elapsed_s else 0.0,
        latency_budget_ms=latency_budget_ms,
        statuses=dict(tally.statuses),
        answered_by=dict(tally.versions),
        target=target,
        load_average=os.getloadavg(),
        cpus=os.cpu_count() or 1,
    )


# ------------------------------------------------------------------ the gateway under test


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def started_gateway(
    session: Session, endpoint: str, *, workers: int = 1, ready_within_s: float = 180.0
) -> Iterator[str]:
    """``modelward serve`` for ``endpoint`` on a free loopback port; yields its base URL.

    Ready means ``/readyz`` answered 200 (polled until ``ready_within_s``); on the way out
    the process gets SIGTERM (it drains and flushes its log) and is killed if it lingers.
    """
    import httpx

    port = _free_port()
    root = session.workspace.root
    environ = {
        **os.environ,
        "MODELWARD_WORKSPACE": str(root),
        "MODELWARD_SERVING__ACCESS_LOG": "false",
    }
    command = [
        sys.executable, "-c", "from modelward.cli import main; main()",
        "-w", str(root), "serve", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--endpoint", endpoint,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_within_s
        while True:
            if process.poll() is not None:
                error = (process.stderr.read() if process.stderr else b"").decode()[-2000:]
                raise ServiceUnavailable(f"the gateway exited with {process.returncode}: {error}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"the gateway was not ready within {ready_within_s:g} s")
            time.sleep(0.1)  # polling a starting process, with the deadline above
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr:
            process.stderr.close()


# ------------------------------------------------------------------------------- the run


def _resolve(session: Session, endpoint_name: str, version: str | None) -> tuple[Endpoint, str]:
    from modelward.registry import get_version, parse_ref
    from modelward.serving import get_endpoint

    endpoint = get_endpoint(session, endpoint_name)
    serves = get_version(session, endpoint.spec.model)
    if version is None:
        return endpoint, serves.ref
    name, _ = parse_ref(version if "@" in version else f"{serves.model_name}@{version}")
    asked = get_version(session, version if "@" in version else f"{name}@{version}")
    return endpoint, asked.ref


async def _measure(
    url: str,
    endpoint: Endpoint,
    rows: Sequence[Mapping[str, Any]],
    token: str | None,
    *,
    concurrency: int,
    duration_s: float,
    rate: float | None,
) -> tuple[_Tally, float]:
    import httpx
    import orjson

    bodies = [orjson.dumps({"inputs": dict(r)}) for r in rows]
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    path = f"/v1/endpoints/{endpoint.name}/predict"
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30.0
    ) as client:
        warm = _Tally()
        for body in bodies[:_WARMUP]:  # the first answers load the model: not the load
            await _one(client, path, body, time.perf_counter(), warm)
        if not warm.statuses.get("200"):  # refused (a token, a route): no load to measure
            raise ServiceUnavailable(
                f"endpoint {endpoint.name} answered no warm-up request: {dict(warm.statuses)}"
            )
        return await drive(
            client, path, bodies, concurrency=concurrency, duration_s=duration_s, rate=rate
        )


def load_test(
    session: Session,
    endpoint: str,
    *,
    concurrency: int,
    duration_s: float,
    version: str | None = None,
    rate: float | None = None,
    workers: int | None = None,
    url: str | None = None,
    token: str | None = None,
    record: bool = True,
) -> tuple[LoadResult, Evidence | None]:
    """Load ``endpoint`` and keep the result as ``load_test`` evidence of the answering version.

    Without ``url`` the gateway is started on loopback with ``workers`` (default: the
    workspace's ``serving.workers``). ``version`` names the version expected to answer
    (the endpoint's model by default); when the endpoint answers with another one, the
    run is refused rather than recorded against the wrong version.
    """
    from modelward.registry import record_evidence
    from modelward.security import load_local_token

    _bounded(concurrency, duration_s, rate)
    resolved, expected = _resolve(session, endpoint, version)
    rows = request_rows(session, resolved, expected)
    secret = token or load_local_token(session.workspace)
    n = workers or session.workspace.settings.serving.workers
    with contextlib.ExitStack() as stack:
        base = (
            url.rstrip("/")
            if url
            else stack.enter_context(started_gateway(session, endpoint, workers=n))
        )
        tally, elapsed = asyncio.run(
            _measure(
                base,
                resolved,
                rows,
                secret,
                concurrency=concurrency,
                duration_s=duration_s,
                rate=rate,
            )
        )
    result = summarize(
        tally,
        elapsed,
        endpoint=endpoint,
        concurrency=concurrency,
        rate=rate,
        workers=None if url else n,
        batching=resolved.spec.batching,
        latency_budget_ms=resolved.spec.latency_budget_ms,
        target="url" if url else "loopback",
    )
    if result.version is not None and result.version != expected:
        raise InputError(
            f"version: endpoint {endpoint} answered with {result.version}, not {expected}; "
            "load test the version the endpoint serves (or route it there first)",
            field="version",
        )
    if not record:
        return result, None
    evidence = record_evidence(
        session,
        "load_test",
        # no answer from a model at all (every one the fallback's): a failed load test of
        # the version the endpoint serves
        result.version or expected,
        summary=result.summary(),
        detail=result.to_dict(),
        passed=result.passed,
        endpoint=endpoint,
    )
    return result, evidence

"""Asynchronous inference over ASGI with a fake-wired gateway and the embedded SQL queue:
submit (202, idempotency, the predict route's bad-input answers), status, the worker's
results and prediction log, callbacks that never answer, and an unreachable queue."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import SecretStr

from modelward.config import JobsSettings, Workspace, init_workspace
from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving.gateway import Gateway
from modelward.serving.jobs.base import JobQueue
from modelward.serving.jobs.callbacks import CallbackSender
from modelward.serving.jobs.redis import RedisJobQueue
from modelward.serving.jobs.routes import JobRoutes
from modelward.serving.jobs.sql import SqlJobQueue
from modelward.serving.jobs.worker import JobWorker
from modelward.store import Store, open_store
from tests.unit.serving.conftest import AUTH, GatewayFactory, World, row, run, serving, spec

JOBS = "/v1/endpoints/m/jobs"
SETTINGS = JobsSettings(visibility_timeout_s=30, backoff_s=0.01, poll_interval_s=0.01)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return init_workspace(tmp_path / "ws")


@pytest.fixture
def store(root: Path) -> Iterator[Store]:
    opened = open_store(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"}))
    yield opened
    opened.close()


@pytest.fixture
def queue(store: Store) -> SqlJobQueue:
    return SqlJobQueue(store, SETTINGS)


def mounted(gateway: Gateway, queue: JobQueue, root: Path | None = None) -> Gateway:
    gateway.mount(JobRoutes(gateway, lambda: queue, SETTINGS, root=root, callbacks=True))
    return gateway


def drain(
    make_gateway: GatewayFactory, queue: JobQueue, root: Path | None = None, **kw: Any
) -> JobWorker:
    """A worker on its own gateway (as in its own process) until the queue is empty."""
    worker = JobWorker(make_gateway(), queue, "m", SETTINGS, root=root, **kw)
    run(worker.run(until_idle=True))
    return worker


def test_a_job_is_accepted_scored_by_a_worker_and_answers_like_predict(
    make_gateway: GatewayFactory, queue: SqlJobQueue, sink: MemoryPredictionSink
) -> None:
    async def submit() -> tuple[Any, Any, Any, Any]:
        async with serving(mounted(make_gateway(), queue)) as http:
            sync = await http.post(
                "/v1/endpoints/m/predict", json={"inputs": row(1.0)}, headers=AUTH
            )
            one = await http.post(JOBS, json={"inputs": row(1.0)}, headers=AUTH)
            many = await http.post(JOBS, json={"inputs": [row(1.0), row(-1.0)]}, headers=AUTH)
            status = await http.get(one.headers["location"], headers=AUTH)
            return sync, one, many, status

    sync, one, many, queued = run(submit())
    assert one.status_code == 202 and many.status_code == 202
    job_id = one.json()["job_id"]
    assert one.headers["location"] == f"{JOBS}/{job_id}"
    assert queued.json()["status"] == "queued"

    worker = drain(make_gateway, queue)
    assert worker.stats.succeeded == 2

    async def results() -> tuple[Any, Any]:
        async with serving(mounted(make_gateway(), queue)) as http:
            return (
                await http.get(f"{JOBS}/{job_id}", headers=AUTH),
                await http.get(f"{JOBS}/{many.json()['job_id']}", headers=AUTH),
            )

    done, done_many = run(results())
    body = done.json()
    assert body["status"] == "succeeded" and body["attempts"] == 1
    assert body["result"]["prediction"] == sync.json()["prediction"]
    assert body["result"]["model_version"] == "3" and body["result"]["request_id"] == job_id
    assert len(done_many.json()["result"]["predictions"]) == 2
    logged = {r.request_id: r for r in sink.read("m") if r.mode == "async"}
    many_id = many.json()["job_id"]
    assert set(logged) == {job_id, f"{many_id}/0", f"{many_id}/1"}
    assert logged[job_id].prediction == body["result"]["prediction"]


def test_an_idempotency_key_retry_returns_the_same_job(
    make_gateway: GatewayFactory, queue: SqlJobQueue
) -> None:
    async def scenario() -> list[Any]:
        async with serving(mounted(make_gateway(), queue)) as http:
            keyed = {**AUTH, "Idempotency-Key": "order-42"}
            return [
                await http.post(JOBS, json={"inputs": row(1.0)}, headers=keyed),
                await http.post(JOBS, json={"inputs": row(1.0)}, headers=keyed),
                await http.post(JOBS, json={"inputs": row(1.0)}, headers=AUTH),
                await http.post(
                    JOBS, json={"inputs": row()}, headers={**AUTH, "Idempotency-Key": "x" * 300}
                ),
            ]

    first, retry, unkeyed, bad_key = run(scenario())
    assert first.status_code == retry.status_code == 202
    assert retry.json()["job_id"] == first.json()["job_id"]
    assert first.json()["created"] is True and retry.json()["created"] is False
    assert unkeyed.json()["job_id"] != first.json()["job_id"]
    assert bad_key.status_code == 422 and bad_key.json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_malformed_job_is_refused_at_submit_as_predict_refuses_it(
    make_gateway: GatewayFactory, queue: SqlJobQueue, root: Path
) -> None:
    bodies: list[Any] = [
        b'{"inputs": {',
        {"inputs": {**row(), "f1": "x", "f2": True}},
        {"inputs": {"f0": 1.0, "f1": 1.0, "f2": 1.0, "zz": 1}},
        {"inputs": []},
    ]

    async def scenario() -> list[tuple[Any, Any]]:
        async with serving(mounted(make_gateway(), queue, root)) as http:
            pairs = []
            for body in bodies:
                kw = {"content": body} if isinstance(body, bytes) else {"json": body}
                pairs.append(
                    (
                        await http.post(JOBS, headers=AUTH, **kw),
                        await http.post("/v1/endpoints/m/predict", headers=AUTH, **kw),
                    )
                )
            for extra in (
                {"input_path": "../../etc/passwd.csv"},
                {"input_path": "missing.parquet"},
                {"input_path": "modelward.toml"},
                {"input_path": "a.csv", "inputs": row()},
                {"inputs": row(), "callback_url": "ftp://example.com/x"},
            ):
                pairs.append((await http.post(JOBS, headers=AUTH, json=extra), None))
            return pairs

    answers = run(scenario())
    for job, sync in answers[:4]:
        assert job.status_code == sync.status_code and job.status_code in (400, 422)
        assert job.headers["content-type"] == "application/problem+json"
        assert job.json()["error"] == sync.json()["error"]
        assert job.json().get("errors") == sync.json().get("errors")
    assert all(a.status_code == 422 for a, _ in answers[4:])
    assert [(e["field"], e["rule"]) for e in (a.json()["errors"][0] for a, _ in answers[4:])] == [
        ("input_path", "must be inside the workspace"),
        ("input_path", "names no file in the workspace"),
        ("input_path", "must name a .parquet or .csv file"),
        ("inputs", "cannot be given with input_path"),
        ("callback_url", "must be an http:// or https:// URL with a host"),
    ]
    assert queue.take("m", "w", count=100, wait_s=0) == []  # nothing refused was queued


def test_jobs_check_the_token_and_the_callers_like_predict(
    make_gateway: GatewayFactory, queue: SqlJobQueue, world: World
) -> None:
    world.put(spec(callers=["alice"]))
    bob = {"Authorization": "Bearer tok-bob"}

    async def scenario() -> list[int]:
        async with serving(mounted(make_gateway(), queue)) as http:
            ok = await http.post(JOBS, json={"inputs": row()}, headers=AUTH)
            return [
                ok.status_code,
                (await http.post(JOBS, json={"inputs": row()})).status_code,
                (await http.post(JOBS, json={"inputs": row()}, headers=bob)).status_code,
                (await http.get(ok.headers["location"], headers=bob)).status_code,
                (await http.get(f"{JOBS}/nope", headers=AUTH)).status_code,
                (await http.post("/v1/endpoints/x/jobs", json={}, headers=AUTH)).status_code,
                (await http.get(JOBS, headers=AUTH)).status_code,
            ]

    assert run(scenario()) == [202, 401, 403, 403, 404, 404, 405]


def test_a_file_job_is_scored_by_the_batch_path_inside_the_workspace(
    make_gateway: GatewayFactory, queue: SqlJobQueue, root: Path, sink: MemoryPredictionSink
) -> None:
    rng = np.random.default_rng(1)
    table = pa.table({f"f{i}": rng.normal(size=50) for i in range(4)})
    (root / "data").mkdir(exist_ok=True)
    pq.write_table(table, root / "data" / "rows.parquet")
    job, _ = queue.submit("m", {"input_path": "data/rows.parquet"})
    drain(make_gateway, queue, root)
    done = queue.get("m", job.id)
    assert done is not None and done.status == "succeeded", done
    assert done.result is not None and done.result["rows_scored"] == 50
    assert (root / done.result["output"] / "manifest.json").is_file()
    logged = [r for r in sink.read("m") if r.mode == "async"]
    assert len(logged) == 50


class _Silent:
    """A TCP server that accepts connections and never answers (a hung receiver)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook?token=s3cret"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_a_callback_that_never_answers_is_retried_then_failed_without_blocking_the_worker(
    make_gateway: GatewayFactory, queue: SqlJobQueue
) -> None:
    silent = _Silent()
    try:
        hooked, _ = queue.submit("m", {"inputs": [row()], "batch": False}, callback_url=silent.url)
        others = [queue.submit("m", {"inputs": [row()], "batch": False})[0] for _ in range(5)]
        sender = CallbackSender(
            SecretStr("x" * 16),
            queue.record_callback,
            timeout_s=0.2,
            attempts=2,
            backoff_s=0.01,
        )
        worker = drain(make_gateway, queue, callbacks=sender)
        # every job was scored while the callback was still waiting on the silent receiver
        assert worker.stats.succeeded == 6
        assert all(queue.get("m", j.id).status == "succeeded" for j in others)  # type: ignore[union-attr]
        sender.close(timeout_s=10)
        found = queue.get("m", hooked.id)
        assert found is not None and found.status == "succeeded"
        assert found.callback_state == "failed: no answer (ReadTimeout) after 2 attempt(s)"
        assert sender.retries == 2 and sender.failed == 1
        assert len(silent.accepted) == 2
    finally:
        silent.close()


def test_an_unreachable_redis_queue_is_a_clear_error_after_bounded_backoff(
    make_gateway: GatewayFactory,
) -> None:
    queue = RedisJobQueue("redis://:hunter2@127.0.0.1:1/0", SETTINGS, connect_timeout_s=0.5)
    worker = JobWorker(
        make_gateway(), queue, "m", SETTINGS, outage_retries=4, outage_backoff_s=0.01
    )
    with pytest.raises(StoreUnavailable) as failed:
        run(worker.run())
    message = failed.value.message
    assert "cannot reach the job queue at redis://:***@127.0.0.1:1/0" in message
    assert "gave up after 4 attempts" in message and "hunter2" not in message
    # waited between attempts, doubling each time: bounded, and never a busy loop
    assert worker.stats.outage_waits == [0.01, 0.02, 0.04]

    async def submit() -> Any:
        async with serving(mounted(make_gateway(), queue)) as http:
            return await http.post(JOBS, json={"inputs": row()}, headers=AUTH)

    refused = run(submit())
    assert refused.status_code == 503 and "hunter2" not in refused.text
    assert "cannot reach the job queue" in refused.json()["detail"]
    queue.close()


def test_retries_then_dead_letter_when_the_model_keeps_failing(
    make_gateway: GatewayFactory, store: Store, world: World
) -> None:
    from tests.unit.serving.conftest import RaisingModel

    world.model("m@production", RaisingModel(), "4")
    settings = JobsSettings(max_attempts=2, backoff_s=0.0, poll_interval_s=0.01)
    queue = SqlJobQueue(store, settings)
    job, _ = queue.submit("m", {"inputs": [row()], "batch": False})
    worker = JobWorker(make_gateway(), queue, "m", settings)

    async def until_dead() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        for _ in range(500):
            if worker.stats.dead:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task

    run(until_dead())
    dead = queue.dead_letters("m")
    assert [d.id for d in dead] == [job.id]
    assert dead[0].attempts == 2 and dead[0].error is not None
    assert "cannot answer" in dead[0].error

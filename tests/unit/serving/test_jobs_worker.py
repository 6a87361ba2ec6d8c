"""The async worker over ASGI with a fake-wired gateway and the embedded SQL queue: a job
scored as predict would answer it and logged, a file job through the batch path, retries
then the dead letter, and an unreachable queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import JobsSettings, Workspace, init_workspace
from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving.gateway import Gateway
from modelward.serving.jobs.base import JobQueue
from modelward.serving.jobs.redis import RedisJobQueue
from modelward.serving.jobs.routes import JobRoutes
from modelward.serving.jobs.sql import SqlJobQueue
from modelward.serving.jobs.worker import JobWorker
from modelward.store import Store, open_store
from tests.unit.serving.support import AUTH, GatewayFactory, World, row, run, serving

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
    from tests.unit.serving.support import RaisingModel

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

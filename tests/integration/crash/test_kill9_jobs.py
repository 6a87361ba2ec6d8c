"""kill -9 of an async worker mid-job, then a restarted worker: every job scored once.

The child worker scores a batch of jobs, writes their rows to the workspace's SQLite
prediction log and is killed right before the first result of its second batch is
recorded. A restarted worker gets those jobs again once the visibility timeout has run
out; the queue must end with one result per job and the log with one record per job.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelward.config import JobsSettings, ServingSettings, Workspace
from modelward.monitoring import PredictionLogWriter, open_workspace_log
from modelward.security import Principal, Role
from modelward.serving.auth import TokenVerifier
from modelward.serving.config_cache import EndpointCache, Sources
from modelward.serving.endpoints import Endpoint, EndpointSpec
from modelward.serving.gateway import Gateway
from modelward.serving.jobs.base import JobQueue
from modelward.serving.jobs.redis import RedisJobQueue
from modelward.serving.jobs.sql import SqlJobQueue
from modelward.serving.jobs.worker import JobWorker
from modelward.serving.metrics import GatewayMetrics
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.session import Session
from tests import services
from tests.integration.crash.harness import kill_at

JOBS = 40
BATCH = 10
SETTINGS = JobsSettings(visibility_timeout_s=1.0, poll_interval_s=0.02, backoff_s=0.01)

CHILD = """
import asyncio, sys
from tests.integration.crash.test_kill9_jobs import open_queue, worker

root, kind, target = sys.argv[1:4]
calls = []

def second_batch(self, done):
    calls.append(len(done))
    return len(calls) == 2  # the rows of batch 2 are logged, no result recorded yet

cls = "SqlJobQueue" if kind == "sqlite" else "RedisJobQueue"
module = "sql" if kind == "sqlite" else "redis"
pause_at(f"modelward.serving.jobs.{module}:{cls}.complete_many", "stopped",
         only_if=second_batch)
session, queue = open_queue(root, kind, target)
asyncio.run(worker(session, queue).run(until_idle=True))
"""


class Logistic:
    classes_ = np.array([0, 1])

    def predict_proba(self, x: Any) -> Any:
        p = 1 / (1 + np.exp(-x.sum(axis=1)))
        return np.column_stack([1 - p, p])


def open_queue(root: str, kind: str, target: str) -> tuple[Session, JobQueue]:
    session = Session(Workspace.open(Path(root), environ={"MODELWARD_IDENTITY__USER": "t"}))
    if kind == "sqlite":
        return session, SqlJobQueue(session.store, SETTINGS)
    return session, RedisJobQueue(
        target.partition("#")[0], SETTINGS, prefix=target.partition("#")[2]
    )


def worker(session: Session, queue: JobQueue) -> JobWorker:
    """A worker as ``modelward worker`` wires it, with a model object instead of MLflow."""
    spec = EndpointSpec(name="sums", model="sums@1", request={"a": "float", "b": "float"})
    now = datetime.now(UTC)
    endpoint = Endpoint(spec, 1, "t", now, "t", now)
    sources = Sources(
        load_endpoints=lambda: [endpoint],
        resolver=StaticModelResolver(
            {"sums@1": ResolvedModel("sums", "1", "mem://sums/1", Logistic())}
        ),
        loader=ObjectModelLoader(),
    )
    metrics = GatewayMetrics()
    gateway = Gateway(
        ServingSettings(access_log=False, gc_freeze=False, poll_interval_s=3600),
        EndpointCache(sources, metrics),
        TokenVerifier(lambda token: Principal("t", Role.ADMIN)),
        PredictionLogWriter(open_workspace_log(session)),
        metrics,
    )
    return JobWorker(gateway, queue, "sums", SETTINGS, concurrency=1, batch=BATCH)


async def _restart_until_done(session: Session, queue: JobQueue, ids: list[str]) -> Any:
    """A restarted worker, stopped once every job has its result (within a deadline)."""
    restarted = worker(session, queue)
    stop = asyncio.Event()
    running = asyncio.create_task(restarted.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    try:
        while True:
            jobs = await asyncio.to_thread(lambda: [queue.get("sums", i) for i in ids])
            if all(j is not None and j.status == "succeeded" for j in jobs):
                break
            assert loop.time() < deadline, "the killed worker's jobs were never redelivered"
            assert not running.done(), running
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    return restarted.stats


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_killed_worker_has_its_jobs_redelivered_and_scored_exactly_once(
    sqlite_workspace: Workspace, kind: str
) -> None:
    target = ""
    if kind == "redis":
        target = f"{services.redis_url()}#mwtest:kill9:{uuid.uuid4().hex[:8]}"
    root = str(sqlite_workspace.root)
    session, queue = open_queue(root, kind, target)
    rng = np.random.default_rng(0)
    ids = [
        queue.submit("sums", {"inputs": [{"a": float(a), "b": float(b)}], "batch": False})[0].id
        for a, b in rng.normal(size=(JOBS, 2))
    ]
    kill_at(CHILD, root, kind, target, label="stopped")

    finished = [queue.get("sums", i) for i in ids]
    assert sum(1 for j in finished if j and j.status == "succeeded") == BATCH
    stats = asyncio.run(_restart_until_done(session, queue, ids))
    assert stats.succeeded == JOBS - BATCH
    # the killed batch's rows were in the log already: not written again
    assert stats.relogged_skipped == BATCH

    jobs = [queue.get("sums", i) for i in ids]
    assert all(j is not None and j.status == "succeeded" for j in jobs)
    assert sum(1 for j in jobs if j and j.attempts == 2) == BATCH  # the killed batch
    log = open_workspace_log(session)
    records = [r for r in log.read("sums") if r.mode == "async"]
    assert sorted(r.request_id for r in records) == sorted(ids)  # each job logged once
    by_id = {r.request_id: r.prediction for r in records}
    assert all(by_id[j.id] == j.result["prediction"] for j in jobs if j and j.result)
    log.close()
    queue.close()
    session.close()

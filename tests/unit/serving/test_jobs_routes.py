"""The gateway's job routes over ASGI: a job refused at submit as predict refuses it, the same
token and caller rules, an idempotency key answering the same job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelward.config import JobsSettings, Workspace, init_workspace
from modelward.serving.gateway import Gateway
from modelward.serving.jobs.base import JobQueue
from modelward.serving.jobs.routes import JobRoutes
from modelward.serving.jobs.sql import SqlJobQueue
from modelward.store import Store, open_store
from tests.unit.serving.support import AUTH, GatewayFactory, World, row, run, serving, spec

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

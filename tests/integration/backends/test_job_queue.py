"""The job queue port's one suite, run against every backend: the metadata store's table
(SQLite, Postgres) and Redis Streams. Backend quirks live in the fixture, not in the tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from modelward.config import JobsSettings, Workspace, init_workspace
from modelward.serving.jobs.base import JobQueue
from modelward.serving.jobs.redis import RedisJobQueue
from modelward.serving.jobs.sql import SqlJobQueue
from modelward.serving.tables import serving_jobs
from modelward.store import open_store
from tests import services

T = TypeVar("T")
ROWS = {"inputs": [{"f0": 1.0}], "batch": True}
#: short enough for a test to wait out, long enough that a take is never mistaken for lost
LEASE_S = 0.4


def settings(**kw: Any) -> JobsSettings:
    base: dict[str, Any] = {
        "visibility_timeout_s": LEASE_S,
        "backoff_s": 0.05,
        "max_attempts": 3,
        "poll_interval_s": 0.02,
        "result_ttl_s": 3600,
    }
    return JobsSettings(**{**base, **kw})


QueueFactory = Callable[..., JobQueue]


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ],
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    """One store (or Redis URL) per backend for the module: migrating a store is the cost."""
    if request.param == "redis":
        yield "redis", services.redis_url()
        return
    schema = None
    env = {"MODELWARD_IDENTITY__USER": "tester"}
    if request.param == "postgres":
        schema = services.create_schema()
        env["MODELWARD_DATABASE_URL"] = next(schema)
    root = init_workspace(tmp_path_factory.mktemp("jobs") / "ws")
    store = open_store(Workspace.open(root, environ=env))
    yield "sql", store
    store.close()
    if schema is not None:
        next(schema, None)


@pytest.fixture
def make_queue(backend: tuple[str, Any]) -> Iterator[QueueFactory]:
    """A factory of queues on one backend, emptied first; its queues share one namespace."""
    kind, target = backend
    opened: list[Any] = []
    prefix = f"mwtest:jobs:{uuid.uuid4().hex[:10]}"
    if kind == "sql":
        with target.transaction() as conn:
            conn.execute(serving_jobs.delete())

    def make(**kw: Any) -> JobQueue:
        queue: JobQueue
        if kind == "redis":
            queue = RedisJobQueue(target, settings(**kw), prefix=prefix)
        else:
            queue = SqlJobQueue(target, settings(**kw))
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        queue.close()
    if kind == "redis":
        import redis

        client = redis.Redis.from_url(target)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def eventually(probe: Callable[[], T | None], timeout_s: float = 10.0) -> T:
    """Poll ``probe`` until it returns something truthy, within a deadline (no fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, "the condition did not hold before the deadline"
        time.sleep(0.02)


def test_a_submitted_job_is_queued_and_an_idempotency_key_returns_the_same_job(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    first, created = queue.submit("churn", ROWS, idempotency_key="order-7")
    again, created_again = queue.submit("churn", {"inputs": []}, idempotency_key="order-7")
    other, _ = queue.submit("churn", ROWS, idempotency_key="order-8")
    elsewhere, created_elsewhere = queue.submit("fraud", ROWS, idempotency_key="order-7")
    assert created and not created_again
    assert again.id == first.id and again.payload == ROWS
    assert other.id != first.id
    assert created_elsewhere and elsewhere.id != first.id  # keys are per endpoint
    found = queue.get("churn", first.id)
    assert found is not None and found.status == "queued" and found.attempts == 0
    assert queue.get("fraud", first.id) is None
    assert queue.get("churn", "no-such-job") is None


def test_a_job_is_leased_to_one_worker_and_its_result_is_kept_once(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    job, _ = queue.submit("churn", ROWS)
    taken = queue.take("churn", "w1", count=10, wait_s=1.0)
    assert [lease.job.id for lease in taken] == [job.id]
    assert taken[0].job.attempts == 1 and taken[0].job.payload == ROWS
    assert queue.take("churn", "w2", count=10, wait_s=0) == []
    assert queue.complete(taken[0], {"predictions": [0.25]})
    assert not queue.complete(taken[0], {"predictions": [0.99]})  # the first result stands
    done = queue.get("churn", job.id)
    assert done is not None and done.status == "succeeded"
    assert done.result == {"predictions": [0.25]}
    assert done.finished_at is not None
    assert queue.take("churn", "w2", count=10, wait_s=0) == []


def test_a_job_whose_worker_died_is_redelivered_after_the_visibility_timeout(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    job, _ = queue.submit("churn", ROWS)
    lost = queue.take("churn", "dies", count=1, wait_s=1.0)
    assert len(lost) == 1
    again = eventually(lambda: queue.take("churn", "survives", count=1, wait_s=0.1))
    assert again[0].job.id == job.id and again[0].job.attempts == 2
    # the dead worker's late failure changes nothing: the new delivery decides
    assert queue.fail(lost[0], "late") == "running"
    assert queue.complete(again[0], {"prediction": 1})
    found = queue.get("churn", job.id)
    assert found is not None and found.status == "succeeded"


def test_failures_retry_with_backoff_then_dead_letter_with_the_error(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(max_attempts=2)
    job, _ = queue.submit("churn", ROWS)
    first = queue.take("churn", "w", count=1, wait_s=1.0)
    assert queue.fail(first[0], "model failed: boom") == "queued"
    waiting = queue.get("churn", job.id)
    assert waiting is not None and waiting.status == "queued" and waiting.error
    second = eventually(lambda: queue.take("churn", "w", count=1, wait_s=0.1))
    assert second[0].job.attempts == 2
    assert queue.fail(second[0], "model failed: boom again") == "failed"
    dead = queue.dead_letters("churn")
    assert [d.id for d in dead] == [job.id]
    assert dead[0].status == "failed" and dead[0].error == "model failed: boom again"
    assert queue.take("churn", "w", count=1, wait_s=0) == []


def test_a_refused_job_is_dead_lettered_at_once(make_queue: QueueFactory) -> None:
    queue = make_queue()
    job, _ = queue.submit("churn", ROWS)
    lease = queue.take("churn", "w", count=1, wait_s=1.0)[0]
    assert queue.fail(lease, "input lacks the field tenure", retry=False) == "failed"
    found = queue.get("churn", job.id)
    assert found is not None and found.attempts == 1
    assert found.error == "input lacks the field tenure"


def test_a_job_lost_by_every_worker_ends_in_the_dead_letters(make_queue: QueueFactory) -> None:
    queue = make_queue(max_attempts=2)
    job, _ = queue.submit("churn", ROWS)
    assert queue.take("churn", "w1", count=1, wait_s=1.0)
    assert eventually(lambda: queue.take("churn", "w2", count=1, wait_s=0.1))
    eventually(
        lambda: queue.dead_letters("churn") or queue.take("churn", "w3", count=1, wait_s=0.1)
    )
    dead = queue.dead_letters("churn")
    assert [d.id for d in dead] == [job.id]
    assert dead[0].error is not None and "never finished" in dead[0].error


def test_finished_jobs_expire_after_the_result_ttl(make_queue: QueueFactory) -> None:
    queue = make_queue(result_ttl_s=0.3)
    job, _ = queue.submit("churn", ROWS, idempotency_key="k")
    queue.complete(queue.take("churn", "w", count=1, wait_s=1.0)[0], {"prediction": 1})
    assert queue.get("churn", job.id) is not None

    def gone() -> bool:
        queue.purge_expired()
        return queue.get("churn", job.id) is None

    eventually(gone)
    fresh, created = queue.submit("churn", ROWS, idempotency_key="k")
    assert created and fresh.id != job.id  # the expired job's key is free again


def test_the_callback_outcome_is_recorded_on_the_job(make_queue: QueueFactory) -> None:
    queue = make_queue()
    job, _ = queue.submit("churn", ROWS, callback_url="http://127.0.0.1:9/hook")
    assert job.callback_state == "pending"
    queue.record_callback("churn", job.id, "failed: no answer after 3 attempts")
    found = queue.get("churn", job.id)
    assert found is not None and found.callback_url == "http://127.0.0.1:9/hook"
    assert found.callback_state == "failed: no answer after 3 attempts"


def test_many_results_are_recorded_at_once_and_a_finished_job_keeps_its_first(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    ids = [queue.submit("churn", ROWS)[0].id for _ in range(3)]
    leases = queue.take("churn", "w", count=3, wait_s=1.0)
    assert sorted(lease.job.id for lease in leases) == sorted(ids)
    assert queue.complete(leases[0], {"prediction": 0})
    kept = queue.complete_many([(lease, {"prediction": 1}) for lease in leases])
    assert kept == [False, True, True]
    results = [queue.get("churn", lease.job.id) for lease in leases]
    assert [r.result["prediction"] for r in results if r and r.result] == [0, 1, 1]

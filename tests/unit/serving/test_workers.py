"""Assembling an async worker (``modelward worker``): an unknown endpoint is one clear
error before anything starts, and a worker on an empty queue returns when idle, having
done nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from modelward import serving
from modelward.config import Workspace
from modelward.errors import NotFound
from modelward.serving.workers import create_worker
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, admin, placeholder_version

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def test_an_unknown_endpoint_is_refused_before_a_worker_starts(session: Session) -> None:
    with pytest.raises(NotFound, match="endpoint 'churn' does not exist"):
        create_worker(session, "churn")


def test_a_worker_on_an_empty_queue_returns_when_idle_having_done_nothing(
    sqlite_workspace: Workspace,
) -> None:
    setup = Session(sqlite_workspace)
    boss = admin(setup)
    placeholder_version(setup, "churn")
    spec = serving.parse_spec(
        {"name": "churn", "model": "churn@1", "request": {"customer_id": "int"}}
    )
    serving.create_endpoint(setup, boss, spec)
    setup.close()
    worker_session = Session(sqlite_workspace)  # the worker closes it when it returns
    worker = create_worker(worker_session, "churn", concurrency=1, batch=4)
    stats = asyncio.run(worker.run(until_idle=True))
    assert (stats.succeeded, stats.retried, stats.dead) == (0, 0, 0)
    assert stats.outage_waits == []

"""Result callbacks of async jobs: a receiver that never answers is retried, then recorded as
failed, and never blocks the worker."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from modelward.config import JobsSettings, Workspace, init_workspace
from modelward.serving.jobs.base import JobQueue
from modelward.serving.jobs.callbacks import CallbackSender
from modelward.serving.jobs.sql import SqlJobQueue
from modelward.serving.jobs.worker import JobWorker
from modelward.store import Store, open_store
from tests.unit.serving.support import GatewayFactory, row, run

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


def drain(
    make_gateway: GatewayFactory, queue: JobQueue, root: Path | None = None, **kw: Any
) -> JobWorker:
    """A worker on its own gateway (as in its own process) until the queue is empty."""
    worker = JobWorker(make_gateway(), queue, "m", SETTINGS, root=root, **kw)
    run(worker.run(until_idle=True))
    return worker


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

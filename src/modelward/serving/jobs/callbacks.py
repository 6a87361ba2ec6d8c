"""Result callbacks: the finished job POSTed to the caller's URL, signed, never in the way.

:meth:`CallbackSender.send` only queues (a bounded queue: past ``capacity`` a callback is
recorded as failed at once, so a flood of slow receivers cannot grow a worker's memory).
A few daemon threads POST each as JSON with ``X-Modelward-Timestamp`` and
``X-Modelward-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under
the workspace's ``webhook_secret``: the alert webhooks' signature
(:func:`modelward.monitoring.sign_webhook`), so a receiver checks both alike. Each attempt
is bounded by ``timeout_s``; a timeout, a connection error, a 429 or a 5xx is retried
with exponential backoff up to ``attempts``, another 4xx is final. The outcome is recorded
on the job (``delivered`` or ``failed: <why>``). The URL's query is never logged.
"""

from __future__ import annotations

import logging
import queue as queues
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import orjson

from modelward.monitoring import sign_webhook

if TYPE_CHECKING:
    from pydantic import SecretStr

    from modelward.serving.jobs.base import Job

__all__ = ["CallbackSender"]

_log = logging.getLogger("modelward.serving.jobs")
_THREADS = 4


def _shown(url: str) -> str:
    return str(httpx.URL(url).copy_with(query=None, fragment=None))


class CallbackSender:
    def __init__(
        self,
        secret: SecretStr | None,
        record: Callable[[str, str, str], None],
        *,
        timeout_s: float = 5.0,
        attempts: int = 5,
        backoff_s: float = 0.5,
        capacity: int = 10_000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._secret = secret
        self._record = record
        self._attempts = attempts
        self._backoff = backoff_s
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._queue: queues.Queue[Job] = queues.Queue(maxsize=capacity)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        #: callbacks the receiver accepted, those given up on, and failed attempts
        self.delivered = 0
        self.failed = 0
        self.retries = 0

    def send(self, job: Job) -> None:
        """Queue the finished ``job``'s callback; returns at once."""
        if not self._threads:
            with self._lock:
                if not self._threads:
                    for i in range(_THREADS):
                        thread = threading.Thread(
                            target=self._run, name=f"job-callback-{i}", daemon=True
                        )
                        thread.start()
                        self._threads.append(thread)
        try:
            self._queue.put_nowait(job)
        except queues.Full:
            self._outcome(job, "failed: the worker's callback queue was full")

    def idle(self) -> bool:
        """Whether every queued callback has been delivered or given up on."""
        return self._queue.unfinished_tasks == 0

    def close(self, timeout_s: float = 5.0) -> None:
        """Give queued callbacks up to ``timeout_s``, then stop (the rest stay pending)."""
        deadline = time.monotonic() + timeout_s
        while not self.idle() and time.monotonic() < deadline:
            self._stop.wait(0.05)
        self._stop.set()
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._queue.get(timeout=0.5)
            except queues.Empty:
                continue
            try:
                self._outcome(job, self._deliver(job))
            finally:
                self._queue.task_done()

    def _outcome(self, job: Job, state: str) -> None:
        if state == "delivered":
            self.delivered += 1
        else:
            self.failed += 1
            assert job.callback_url is not None
            _log.warning("job %s: callback to %s %s", job.id, _shown(job.callback_url), state)
        try:
            self._record(job.endpoint, job.id, state)
        except Exception as exc:  # the queue is down: the outcome is only logged
            _log.warning("job %s: callback outcome not recorded: %s", job.id, exc)

    def _deliver(self, job: Job) -> str:
        assert job.callback_url is not None
        body = orjson.dumps({"type": "modelward.job", **job.to_dict()})
        delay = self._backoff
        why = ""
        for attempt in range(1, self._attempts + 1):
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Modelward-Timestamp": stamp,
                "X-Modelward-Signature": sign_webhook(self._secret, stamp, body),
                "X-Modelward-Job": job.id,
            }
            try:
                response = self._client.post(job.callback_url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                why = f"no answer ({type(exc).__name__})"
            else:
                if response.status_code < 300:
                    return "delivered"
                why = f"answered {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    return f"failed: {why} (not retried)"
            self.retries += 1
            if attempt < self._attempts and self._stop.wait(delay):
                break
            delay = min(delay * 2, 30.0)
        return f"failed: {why} after {attempt} attempt(s)"

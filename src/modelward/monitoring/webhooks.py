"""Alert delivery to a webhook: signed, retried with backoff, never in monitoring's way.

:meth:`WebhookSender.send` only queues; one background thread POSTs each change as JSON
with ``X-Modelward-Timestamp`` and ``X-Modelward-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``"<timestamp>.<body>"`` under the workspace's ``webhook_secret`` (the
receiver recomputes it and refuses stale timestamps, so a captured call cannot be
replayed later). A timeout, a connection error, a 429 or a 5xx is retried with
exponential backoff up to ``attempts``; another 4xx is final (the receiver refused the
payload). :meth:`wait` lets a short-lived process (the CLI) give delivery a deadline
before it exits; the counts say what happened. The URL is never logged with its query
(it may carry a token).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from modelward.monitoring.alerts import AlertChange

__all__ = [
    "WebhookSender",
    "delivery_deadline_s",
    "sender_from_settings",
    "sign",
]


def sign(secret: SecretStr | None, timestamp: str, body: bytes) -> str:
    """The ``X-Modelward-Signature`` value for ``body`` sent at ``timestamp``."""
    key = (secret.get_secret_value() if secret else "").encode()
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSender:
    def __init__(
        self,
        url: str,
        secret: SecretStr | None,
        *,
        timeout_s: float = 5.0,
        attempts: int = 5,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self._attempts = attempts
        self._backoff = backoff_s
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._queue: deque[AlertChange] = deque()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: changes the receiver accepted, and those given up on after every attempt
        self.delivered = 0
        self.failed = 0
        #: failed attempts (each retried while attempts remain)
        self.retries = 0

    def send(self, changes: Sequence[AlertChange]) -> None:
        """Queue ``changes`` for delivery; returns at once."""
        if not changes:
            return
        with self._lock:
            self._queue.extend(changes)
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alert-webhook", daemon=True)
                self._thread.start()
        self._wake.set()

    def wait(self, timeout_s: float) -> bool:
        """Until everything queued is delivered or given up on; ``False`` on timeout."""
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            while True:
                with self._lock:
                    if not self._queue:
                        self._idle.set()
                        break
                    change = self._queue.popleft()
                if self._deliver(change):
                    self.delivered += 1
                else:
                    self.failed += 1

    def _post(self, body: bytes) -> httpx.Response:
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Modelward-Timestamp": stamp,
            "X-Modelward-Signature": sign(self._secret, stamp, body),
        }
        return self._client.post(self.url, content=body, headers=headers)

    def _deliver(self, change: AlertChange) -> bool:
        body = orjson.dumps({"type": "modelward.alert", **change.to_dict()})
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._post(body)
                if response.status_code < 300:
                    return True
                if response.status_code < 500 and response.status_code != 429:
                    return False  # refused: sending it again would be refused again
            except httpx.HTTPError:
                pass
            self.retries += 1
            if attempt < self._attempts and self._stop.wait(delay):
                return False
            delay = min(delay * 2, 30.0)
        return False

    def __repr__(self) -> str:
        return f"WebhookSender({httpx.URL(self.url).copy_with(query=None)!s})"


def delivery_deadline_s(settings: Any) -> float:
    """How long a short-lived process (a CLI run) waits for queued deliveries before it
    exits: every attempt of ``[monitoring]`` with its timeout and backoff."""
    return float(settings.webhook_attempts * (settings.webhook_timeout_s + 2.0))


def sender_from_settings(settings: Any, secret: SecretStr | None) -> WebhookSender | None:
    """The workspace's sender (``[monitoring] webhook_url``), or ``None`` when unset."""
    if not settings.webhook_url:
        return None
    return WebhookSender(
        settings.webhook_url,
        secret,
        timeout_s=settings.webhook_timeout_s,
        attempts=settings.webhook_attempts,
    )

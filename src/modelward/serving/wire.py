"""The gateway's HTTP/1.1 protocol: uvicorn's httptools protocol with a header deadline.

uvicorn bounds the idle time between requests (keep-alive) but not the time a client may
take to send a request's headers: any byte resets its timer, so a client dribbling one
header byte every few seconds holds its connection forever (slow-loris). This protocol
arms a deadline when a connection opens and when a new request's first byte arrives, and
disarms it when the headers are complete; at the deadline the client gets a 408 and the
connection is closed. Headers are bounded in size too (:data:`MAX_HEADER_BYTES`: past it
while they are still incomplete, a 431 and the connection is closed), since the parser
buffers a header that never ends. The body has its own deadline, in the gateway
(``serving.body_timeout_s``), and no scoring slot is held while it is read.

``modelward serve`` passes this class as uvicorn's ``http`` protocol; each worker process
reads the deadline from ``MODELWARD_SERVE_HEADER_TIMEOUT_S`` (the class must stay
importable by name, for uvicorn's worker processes).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["ENV_HEADER_TIMEOUT", "MAX_HEADER_BYTES", "HeaderDeadlineProtocol"]

#: seconds a request's headers may take; set by ``modelward serve`` for its workers
ENV_HEADER_TIMEOUT = "MODELWARD_SERVE_HEADER_TIMEOUT_S"
#: bytes a request's headers may take (the request line included)
MAX_HEADER_BYTES = 65_536


def _refusal(status: int, reason: str, title: str, detail: str, error: str) -> bytes:
    body = (
        f'{{"type":"about:blank","title":"{title}","status":{status},'
        f'"detail":"{detail}","error":"{error}"}}'
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


_TIMEOUT_RESPONSE = _refusal(
    408,
    "Request Timeout",
    "request timeout",
    "the request headers took too long",
    "RequestTimeout",
)
_TOO_LARGE_RESPONSE = _refusal(
    431,
    "Request Header Fields Too Large",
    "request headers too large",
    f"the request headers are over {MAX_HEADER_BYTES} bytes",
    "PayloadTooLarge",
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = float(os.environ.get(ENV_HEADER_TIMEOUT, "10"))
        self._header_deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0

    def _arm(self) -> None:
        self._disarm()
        self._header_bytes = 0
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expired(self) -> None:
        self._header_deadline = None
        self._refuse(_TIMEOUT_RESPONSE)

    def _refuse(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # counted after parsing: a chunk that completes the headers (it may carry a body)
        # has disarmed the deadline, and one that begins a request has re-armed it
        if self._header_deadline is not None:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._disarm()
                self._refuse(_TOO_LARGE_RESPONSE)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is bounded too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

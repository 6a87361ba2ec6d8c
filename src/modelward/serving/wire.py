"""The gateway's HTTP/1.1 protocol: uvicorn's httptools protocol with a header deadline.

uvicorn bounds the idle time between requests (keep-alive) but not the time a client may
take to send a request's headers: any byte resets its timer, so a client dribbling one
header byte every few seconds holds its connection forever (slow-loris). This protocol
arms a deadline when a connection opens and when a new request's first byte arrives, and
disarms it when the headers are complete; at the deadline the client gets a 408 and the
connection is closed. The body has its own deadline, in the gateway
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

__all__ = ["ENV_HEADER_TIMEOUT", "HeaderDeadlineProtocol"]

#: seconds a request's headers may take; set by ``modelward serve`` for its workers
ENV_HEADER_TIMEOUT = "MODELWARD_SERVE_HEADER_TIMEOUT_S"
_TIMEOUT_BODY = (
    b'{"type":"about:blank","title":"request timeout","status":408,'
    b'"detail":"the request headers took too long","error":"RequestTimeout"}'
)
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = float(os.environ.get(ENV_HEADER_TIMEOUT, "10"))
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expired(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()

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

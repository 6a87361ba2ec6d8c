"""Reading a request body off the ASGI wire: bounded in size and in time.

The size limit refuses a body over ``max_body_bytes`` from its ``Content-Length`` before a
byte is read, or as soon as the chunks read pass it (a chunked body has no length). The
time limit bounds a client that sends its body slowly or not at all: the gateway reads
the body before it takes a scoring slot, so such a client holds a socket, never a slot,
and is answered 408 (with ``Connection: close``) at the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from modelward.errors import PayloadTooLarge, RequestTimeout

__all__ = ["ClientGone", "read_body"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientGone(Exception):
    """The client disconnected before its body was read: there is no one to answer."""


async def read_body(
    receive: Receive, length: bytes | None, limit_bytes: int, timeout_s: float
) -> bytes:
    """The whole body; :class:`PayloadTooLarge` past ``limit_bytes``, :class:`RequestTimeout`
    when it has not arrived within ``timeout_s``, :class:`ClientGone` on a disconnect."""
    if length is not None and length.isdigit() and int(length) > limit_bytes:
        raise PayloadTooLarge(
            f"the request body of {int(length)} bytes is over the limit of {limit_bytes} bytes",
            limit=limit_bytes,
        )
    try:
        async with asyncio.timeout(timeout_s):
            return await _chunks(receive, limit_bytes)
    except TimeoutError:
        raise RequestTimeout(
            f"the request body did not arrive within {timeout_s:g} s", limit_s=timeout_s
        ) from None


async def _chunks(receive: Receive, limit: int) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if message["type"] == "http.disconnect":
            raise ClientGone
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the request body is over the limit of {limit} bytes", limit=limit
            )
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)

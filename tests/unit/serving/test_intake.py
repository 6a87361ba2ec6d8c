"""Reading a request body: refused past the size limit before or while it is read, a
client that never finishes answered at the deadline, a disconnect noticed."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from modelward.errors import PayloadTooLarge, RequestTimeout
from modelward.serving.intake import ClientGone, read_body


def _receiver(*messages: dict[str, Any], then_wait: bool = False) -> Any:
    queue = list(messages)
    calls = {"n": 0}

    async def receive() -> MutableMapping[str, Any]:
        calls["n"] += 1
        if queue:
            return queue.pop(0)
        if then_wait:
            await asyncio.Event().wait()
        raise AssertionError("read past the last message")

    receive.calls = calls  # type: ignore[attr-defined]
    return receive


def _chunk(body: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


def test_a_body_in_one_or_many_chunks_is_read_whole() -> None:
    one = _receiver(_chunk(b'{"a": 1}', False))
    assert asyncio.run(read_body(one, b"8", 100, 1.0)) == b'{"a": 1}'
    many = _receiver(_chunk(b"ab", True), _chunk(b"", True), _chunk(b"cd", False))
    assert asyncio.run(read_body(many, None, 100, 1.0)) == b"abcd"


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read() -> None:
    receive = _receiver(_chunk(b"x" * 11, False))
    with pytest.raises(PayloadTooLarge, match="body of 11 bytes is over the limit of 10 bytes"):
        asyncio.run(read_body(receive, b"11", 10, 1.0))
    assert receive.calls["n"] == 0


def test_a_body_at_the_limit_is_read_and_one_byte_more_is_refused_while_reading() -> None:
    at_limit = _receiver(_chunk(b"x" * 6, True), _chunk(b"x" * 4, False))
    assert len(asyncio.run(read_body(at_limit, None, 10, 1.0))) == 10
    # a chunked body carries no length: refused as soon as the chunks pass the limit
    over = _receiver(_chunk(b"x" * 6, True), _chunk(b"x" * 5, True), then_wait=True)
    with pytest.raises(PayloadTooLarge, match="over the limit of 10 bytes"):
        asyncio.run(read_body(over, None, 10, 1.0))


def test_a_body_that_never_finishes_is_a_timeout_naming_the_limit() -> None:
    slow = _receiver(_chunk(b"ab", True), then_wait=True)
    with pytest.raises(RequestTimeout, match=r"did not arrive within 0\.05 s") as info:
        asyncio.run(read_body(slow, None, 100, 0.05))
    assert info.value.details["limit_s"] == 0.05


def test_a_disconnect_before_or_during_the_body_is_client_gone() -> None:
    with pytest.raises(ClientGone):
        asyncio.run(read_body(_receiver({"type": "http.disconnect"}), None, 100, 1.0))
    during = _receiver(_chunk(b"ab", True), {"type": "http.disconnect"})
    with pytest.raises(ClientGone):
        asyncio.run(read_body(during, None, 100, 1.0))

"""#15.4: slow-loris against a real uvicorn, as ``modelward serve`` runs it.

Four stalled connections with ``max_concurrency=2`` once made every good request a 503:
the concurrency slot was taken before the body was read, and neither the headers nor the
body had a deadline. Here two clients stall in their headers and two in their bodies, good
requests are answered meanwhile, and each stalled client is answered 408 and disconnected.
The server runs in this process (a thread) on a free loopback port; the only waits are
socket reads bounded by a deadline.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from modelward.serving import ENV_HEADER_TIMEOUT, HeaderDeadlineProtocol
from modelward.serving.gateway import Gateway
from modelward.serving.wire import MAX_HEADER_BYTES
from tests.unit.serving.support import AUTH, GatewayFactory, row

#: long enough that the good requests below are answered while the slow clients stall
#: (if the box is so slow that they are not, the test still holds: it cannot pass falsely
#: before the fix, where a stalled body held its slot with no deadline at all)
DEADLINE_S = 3.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(
    make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Gateway, int]]:
    monkeypatch.setenv(ENV_HEADER_TIMEOUT, str(DEADLINE_S))
    gateway = make_gateway(max_concurrency=2, body_timeout_s=DEADLINE_S)
    port = _free_port()
    config = uvicorn.Config(
        gateway,
        host="127.0.0.1",
        port=port,
        http=HeaderDeadlineProtocol,
        loop="asyncio",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield gateway, port
    uv.should_exit = True
    thread.join(30)


def _stall(port: int, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S * 5)
    sock.sendall(head)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the
    socket's timeout: a server that never answers fails the test, it does not hang)."""
    got = b""
    with sock:
        while chunk := sock.recv(4096):
            got += chunk
    return got


def test_stalled_headers_and_bodies_hold_no_slot_and_are_cut_off(
    server: tuple[Gateway, int],
) -> None:
    gateway, port = server
    path = b"/v1/endpoints/m/predict"
    slow_headers = [
        _stall(port, b"POST " + path + b" HTTP/1.1\r\nHost: gateway\r\nAuthorization: Be")
        for _ in range(2)
    ]
    head = (
        b"POST " + path + b" HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"Authorization: " + AUTH["Authorization"].encode() + b"\r\nContent-Length: 200\r\n\r\n"
    )
    slow_bodies = [_stall(port, head + b'{"inputs": ') for _ in range(2)]
    # a header that never ends, sent fast: bounded in size, not only in time
    endless = _stall(port, b"POST " + path + b" HTTP/1.1\r\nHost: gateway\r\nX-Pad: ")
    with contextlib.suppress(OSError):  # the server may close while this is still sent
        endless.sendall(b"a" * (MAX_HEADER_BYTES + 1024))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        good = [http.post(path.decode(), json={"inputs": row()}, headers=AUTH) for _ in range(4)]
    assert [r.status_code for r in good] == [200] * 4, [r.text for r in good]
    for sock in slow_headers + slow_bodies:
        assert _answer(sock).startswith(b"HTTP/1.1 408 ")
    assert _answer(endless).startswith(b"HTTP/1.1 431 ")
    assert gateway.limit.in_flight == 0

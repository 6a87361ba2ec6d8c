"""A small closed-loop HTTP/1.1 load client, for machines without ``wrk``.

``conns`` keep-alive connections on 127.0.0.1 each send the same POST, wait for the whole
answer, and send again, for ``duration_s`` seconds; latencies are recorded per request.
It is Python (asyncio streams, a pre-built request), so it spends more CPU per request
than ``wrk`` and on a small machine caps the throughput it can show: compare servers
measured with the same client, never across clients. The result has ``wrk``'s keys.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = ["run_builtin"]


def _request(host: str, path: str, body: bytes, token: str | None) -> bytes:
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read_answer(reader: asyncio.StreamReader) -> int:
    """Read one response; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _load(
    base: str, path: str, body: bytes, token: str | None, conns: int, duration_s: float
) -> dict[str, Any]:
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    request = _request(f"{host}:{port}", path, body, token)
    latencies: list[float] = []
    non_2xx = 0
    errors = 0
    stop_at = time.perf_counter() + duration_s

    async def one() -> None:
        nonlocal non_2xx, errors
        while time.perf_counter() < stop_at:  # a connection the server closed is reopened
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                errors += 1
                await asyncio.sleep(0.01)
                continue
            try:
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    writer.write(request)
                    status = await _read_answer(reader)
                    latencies.append(time.perf_counter() - t0)
                    if not 200 <= status < 400:
                        non_2xx += 1
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
            finally:
                writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(conns)))
    elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000.0

    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50) if latencies else 0.0,
        "p99_ms": pct(0.99) if latencies else 0.0,
        "requests": len(latencies),
        "non_2xx": non_2xx,
        "socket_errors": f"{errors} connection(s) closed or refused" if errors else "",
        "client": "builtin",
    }


def run_builtin(
    base: str, path: str, body: bytes, token: str | None, conns: int, duration_s: float
) -> dict[str, Any]:
    """Closed-loop load on ``base + path``; ``wrk``'s result keys."""
    return asyncio.run(_load(base, path, body, token, conns, duration_s))

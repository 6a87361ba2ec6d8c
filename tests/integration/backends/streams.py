"""Event streams on the real servers for the tests: unique names, removed afterwards.

Each backend's quirks live here, not in the tests: Redis takes over a dead consumer's
events after ``claim_idle_ms`` (short here), NATS delivers an unacknowledged event again
after ``ack_wait_s`` (one second here, its floor is half that).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest

from tests import services

KINDS = [
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("nats", marks=pytest.mark.nats),
]


@dataclass
class Streams:
    """URLs of fresh streams on one server; ``url(name, group=...)``."""

    kind: str
    base: str
    prefix: str
    opened: list[Any] = field(default_factory=list)

    def url(self, name: str, **params: Any) -> str:
        if self.kind == "redis":
            query = {"stream": f"{self.prefix}-{name}", "claim_idle_ms": 200, **params}
        else:
            query = {"subject": f"{self.prefix}.{name}", "ack_wait_s": 1, **params}
        return f"{self.base}?{urlencode(query)}"

    def dead_url(self, name: str) -> str:
        """The dead-letter stream the consumer derives from source ``name``."""
        if self.kind == "redis":
            return self.url(f"{name}-dead")
        return self.url(f"{name}.dead")


def _drop_redis(base: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(base)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _drop_nats(base: str, prefix: str) -> None:
    import nats

    async def drop() -> None:
        nc = await nats.connect(servers=[base], allow_reconnect=False)
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name.startswith(prefix.upper().replace(".", "_")):
                await js.delete_stream(info.config.name)
        await nc.close()

    asyncio.run(drop())


def streams_on(kind: str) -> Iterator[Streams]:
    prefix = f"mwtest{uuid.uuid4().hex[:10]}"
    base = services.redis_url() if kind == "redis" else services.nats_url()
    streams = Streams(kind, base, prefix)
    try:
        yield streams
    finally:
        for opened in streams.opened:
            opened.close()
        (_drop_redis if kind == "redis" else _drop_nats)(base, prefix)

"""The Redis online store: scale-out serving shared by every gateway replica.

Each entity's values are one string, ``<prefix>:<namespace>:<key>``, holding a 16-byte
header (event and created time) and the packed values, so a lookup is one GET and a batch
one MGET. Writes go through a Lua script that keeps the newer record, so re-running a
materialization is idempotent. Every socket operation has a bounded timeout: an
unreachable server is a clear error within seconds, never a hang.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelward.connections import redact_url, redis_client
from modelward.errors import OnlineStoreUnavailable
from modelward.features.online.base import Record

__all__ = ["RedisOnlineStore", "RedisOnlineStoreConfig"]

_HEADER = struct.Struct(">qq")
_WRITE_CHUNK = 1_000
_READ_CHUNK = 10_000

# KEYS: the entity keys; ARGV: their packed values (header first), in the same order.
# Compare headers as signed big-endian pairs; a newer or equal record replaces the old.
_UPSERT = """
local n = 0
for i, key in ipairs(KEYS) do
  local new = ARGV[i]
  local old = redis.call('GET', key)
  local put = true
  if old then
    local oe, oc = struct.unpack('>i8>i8', old)
    local ne, nc = struct.unpack('>i8>i8', new)
    put = ne > oe or (ne == oe and nc >= oc)
  end
  if put then redis.call('SET', key, new); n = n + 1 end
end
return n
"""


class RedisOnlineStoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["redis"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "mw"
    socket_timeout_s: float = Field(default=2.0, gt=0)
    connect_timeout_s: float = Field(default=2.0, gt=0)


class RedisOnlineStore:
    def __init__(
        self,
        url: str,
        key_prefix: str = "mw",
        socket_timeout_s: float = 2.0,
        connect_timeout_s: float = 2.0,
    ) -> None:
        import redis

        self._url = url
        self._prefix = key_prefix
        self._errors: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._client: Any = redis_client(
            url, socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s
        )
        self._upsert: Any = None

    @classmethod
    def from_config(cls, config: RedisOnlineStoreConfig, root: Path) -> RedisOnlineStore:
        return cls(config.url, config.key_prefix, config.socket_timeout_s, config.connect_timeout_s)

    @property
    def label(self) -> str:
        return redact_url(self._url)

    def _unavailable(self, exc: Exception) -> OnlineStoreUnavailable:
        return OnlineStoreUnavailable(
            f"online store {self.label} is unreachable: {exc}", store=self.label
        )

    def _key(self, namespace: str, key: str) -> str:
        return f"{self._prefix}:{namespace}:{key}"

    def write(self, namespace: str, records: Sequence[Record]) -> None:
        try:
            if self._upsert is None:
                self._upsert = self._client.register_script(_UPSERT)
            pipe = self._client.pipeline(transaction=True)
            for i in range(0, len(records), _WRITE_CHUNK):
                chunk = records[i : i + _WRITE_CHUNK]
                self._upsert(
                    keys=[self._key(namespace, r.key) for r in chunk],
                    args=[_HEADER.pack(r.event_us, r.created_us) + r.value for r in chunk],
                    client=pipe,
                )
            pipe.execute()
        except self._errors as exc:
            raise self._unavailable(exc) from None

    def read(self, namespace: str, keys: Sequence[str]) -> list[Record | None]:
        try:
            if len(keys) == 1:
                raw = [self._client.get(self._key(namespace, keys[0]))]
            else:
                raw = []
                for i in range(0, len(keys), _READ_CHUNK):
                    raw.extend(
                        self._client.mget(
                            [self._key(namespace, k) for k in keys[i : i + _READ_CHUNK]]
                        )
                    )
        except self._errors as exc:
            raise self._unavailable(exc) from None
        out: list[Record | None] = []
        for key, blob in zip(keys, raw, strict=True):
            if blob is None:
                out.append(None)
            else:
                event_us, created_us = _HEADER.unpack_from(blob)
                out.append(Record(key, event_us, created_us, blob[_HEADER.size :]))
        return out

    def _scan(self, namespace: str) -> Any:
        return self._client.scan_iter(match=f"{self._prefix}:{namespace}:*", count=1_000)

    def keys(self, namespace: str, limit: int) -> list[str]:
        cut = len(f"{self._prefix}:{namespace}:")
        found: list[str] = []
        try:
            for raw in self._scan(namespace):
                found.append(raw.decode()[cut:])
                if len(found) >= limit:
                    break
        except self._errors as exc:
            raise self._unavailable(exc) from None
        return found

    def count(self, namespace: str) -> int:
        try:
            return sum(1 for _ in self._scan(namespace))
        except self._errors as exc:
            raise self._unavailable(exc) from None

    def drop(self, namespace: str) -> None:
        try:
            batch: list[bytes] = []
            for raw in self._scan(namespace):
                batch.append(raw)
                if len(batch) >= 1_000:
                    self._client.unlink(*batch)
                    batch = []
            if batch:
                self._client.unlink(*batch)
        except self._errors as exc:
            raise self._unavailable(exc) from None

    def close(self) -> None:
        self._client.close()

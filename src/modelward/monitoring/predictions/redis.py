"""The Redis Stream prediction log: scale-out, shared by every gateway replica.

One stream per endpoint, ``<prefix>:predictions:<endpoint>``, plus a set naming the
endpoints that have one. A batch is one ``MULTI`` pipeline of ``XADD`` calls, so it lands
all or none. Streams are unbounded by default (``maxlen = 0``): the log is what monitoring
and delayed-label evaluation read, so trimming is their decision; set ``maxlen`` to cap
memory, knowing Redis then trims the oldest entries (approximately, ``~``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from modelward.connections import redact_url, redis_client
from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.base import PredictionRecord

__all__ = ["RedisPredictionSink", "RedisPredictionSinkConfig"]


class RedisPredictionSinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["redis"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "mw"
    #: approximate cap per endpoint stream; 0 keeps everything
    maxlen: int = Field(default=0, ge=0)
    socket_timeout_s: float = Field(default=2.0, gt=0)
    connect_timeout_s: float = Field(default=2.0, gt=0)


def _fields(r: PredictionRecord) -> dict[str, Any]:
    option = orjson.OPT_SERIALIZE_NUMPY
    return {
        "request_id": r.request_id,
        "at_us": r.at_us,
        "endpoint": r.endpoint,
        "model": r.model,
        "model_version": r.model_version,
        "inputs": orjson.dumps(r.inputs, option=option),
        "prediction": orjson.dumps(r.prediction, option=option),
        "latency_ms": repr(float(r.latency_ms)),
        "degraded": "1" if r.degraded else "0",
        "mode": r.mode,
        "role": r.role,
        "release_id": r.release_id,
        "error": r.error,
    }


def _record(fields: dict[bytes, bytes]) -> PredictionRecord:
    return PredictionRecord(
        request_id=fields[b"request_id"].decode(),
        at_us=int(fields[b"at_us"]),
        endpoint=fields[b"endpoint"].decode(),
        model=fields[b"model"].decode(),
        model_version=fields[b"model_version"].decode(),
        inputs=orjson.loads(fields[b"inputs"]),
        prediction=orjson.loads(fields[b"prediction"]),
        latency_ms=float(fields[b"latency_ms"]),
        degraded=fields[b"degraded"] == b"1",
        # entries written before these fields existed have none
        mode=fields.get(b"mode", b"online").decode(),
        role=fields.get(b"role", b"primary").decode(),
        release_id=fields.get(b"release_id", b"").decode(),
        error=fields.get(b"error", b"").decode(),
    )


class RedisPredictionSink:
    def __init__(
        self,
        url: str,
        key_prefix: str = "mw",
        maxlen: int = 0,
        socket_timeout_s: float = 2.0,
        connect_timeout_s: float = 2.0,
    ) -> None:
        import redis

        self._url = url
        self._prefix = key_prefix
        self._maxlen = maxlen or None
        self._errors: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._client: Any = redis_client(
            url, socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s
        )

    @classmethod
    def from_config(cls, config: RedisPredictionSinkConfig, root: Path) -> RedisPredictionSink:
        return cls(
            config.url,
            config.key_prefix,
            config.maxlen,
            config.socket_timeout_s,
            config.connect_timeout_s,
        )

    @property
    def label(self) -> str:
        return f"redis:{redact_url(self._url)}/{self._prefix}"

    def stream(self, endpoint: str) -> str:
        """The stream key of ``endpoint``; monitoring reads it with consumer groups."""
        return f"{self._prefix}:predictions:{endpoint}"

    @property
    def _index(self) -> str:
        return f"{self._prefix}:predictions:endpoints"

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(
            f"cannot reach the prediction log {self.label}: {exc}", store=self.label
        )

    def write(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        try:
            pipe = self._client.pipeline(transaction=True)
            for endpoint in {r.endpoint for r in records}:
                pipe.sadd(self._index, endpoint)
            for r in records:
                pipe.xadd(
                    self.stream(r.endpoint),
                    _fields(r),
                    maxlen=self._maxlen,
                    approximate=True,
                )
            pipe.execute()
        except self._errors as exc:
            raise self._unavailable(exc) from None

    def _endpoints(self, endpoint: str | None) -> list[str]:
        if endpoint is not None:
            return [endpoint]
        return sorted(m.decode() for m in self._client.smembers(self._index))

    def read(self, endpoint: str | None = None, limit: int | None = None) -> list[PredictionRecord]:
        try:
            found: list[tuple[bytes, PredictionRecord]] = []
            for name in self._endpoints(endpoint):
                entries = self._client.xrange(self.stream(name), count=limit)
                found.extend((entry_id, _record(fields)) for entry_id, fields in entries)
        except self._errors as exc:
            raise self._unavailable(exc) from None
        # stream ids are "<ms>-<seq>": ordering across endpoints follows write time
        found.sort(key=lambda item: tuple(int(p) for p in item[0].split(b"-")))
        records = [r for _, r in found]
        return records if limit is None else records[:limit]

    def count(self, endpoint: str | None = None) -> int:
        try:
            return sum(int(self._client.xlen(self.stream(n))) for n in self._endpoints(endpoint))
        except self._errors as exc:
            raise self._unavailable(exc) from None

    def drop(self) -> None:
        """Delete every stream of this prefix (tests and workspace resets)."""
        names = self._endpoints(None)
        self._client.delete(*(self.stream(n) for n in names), self._index)

    def close(self) -> None:
        self._client.close()

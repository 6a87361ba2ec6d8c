"""Redis Streams as an event source (a consumer group) and an event sink (keyed by event id).

Reading: ``XREADGROUP`` in the group ``group`` as consumer ``consumer``. A consumer that
starts again under the same name first reads back what it was given and never
acknowledged (``XREADGROUP ... 0``); events another consumer has held for longer than
``claim_idle_ms`` (it died) are taken over with ``XAUTOCLAIM``; then new events (``>``).
The group is created on first use (``MKSTREAM``), from ``start`` (``0``: the whole
stream; ``$``: only what arrives later).

A message's body is its ``data`` field (JSON); a message without one is read as the JSON
object of its fields (``XADD events * customer_id 7 tenure 3``). Its event id is its
``key`` field when the producer set one, else its stream entry id.

Writing: one Lua script per chunk of messages, so a chunk lands all or none; for each
message it sets a marker ``<stream>:seen:<key>`` with ``SET NX EX dedupe_s`` and adds the
message (fields ``key`` and ``data``) only when the marker was not there. A redelivered
event's output is therefore skipped for ``dedupe_s`` seconds (one hour by default; the
markers cost about 80 bytes each, so size it to the rate times the longest outage).
``maxlen`` trims the stream approximately (``MAXLEN ~``); 0 keeps everything.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from modelward.connections import redact_url, redis_client
from modelward.errors import InputError, StoreUnavailable
from modelward.serving.streaming.base import Event, Message

__all__ = ["RedisEventStream", "RedisEventStreamConfig"]

_CHUNK = 1_000


def _default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class RedisEventStreamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["redis"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    stream: str = Field(min_length=1, max_length=512)
    #: the consumer group; needed to read, not to write
    group: str | None = Field(default=None, min_length=1, max_length=256)
    #: this consumer's name in the group; a restart under the same name resumes its events
    consumer: str = Field(default_factory=_default_consumer, min_length=1, max_length=256)
    #: where a new group starts: 0 (the whole stream) or $ (only new events)
    start: Literal["0", "$"] = "0"
    #: an event another consumer has held this long (it died) is taken over
    claim_idle_ms: int = Field(default=30_000, ge=100)
    #: seconds a written key is remembered: a second write of it in that time is skipped
    dedupe_s: int = Field(default=3_600, ge=1)
    #: approximate cap of the stream written; 0 keeps everything
    maxlen: int = Field(default=0, ge=0)
    #: the field holding a message's JSON body, and the one holding its key
    field: str = Field(default="data", min_length=1)
    key_field: str = Field(default="key", min_length=1)
    socket_timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=2.0, gt=0)


#: KEYS: the stream. ARGV: marker prefix, marker ttl, maxlen (0: none), key field, data
#: field, then the messages as one JSON array of [key, payload] pairs (one argument: a
#: command of a thousand arguments costs more to encode than the work it asks for).
#: Returns how many messages were new.
_WRITE_NEW = """
local prefix, ttl, maxlen = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local key_field, data_field = ARGV[4], ARGV[5]
local new = 0
for _, m in ipairs(cjson.decode(ARGV[6])) do
  if redis.call('SET', prefix .. m[1], '1', 'NX', 'EX', ttl) then
    if maxlen > 0 then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', key_field, m[1], data_field, m[2])
    else
      redis.call('XADD', KEYS[1], '*', key_field, m[1], data_field, m[2])
    end
    new = new + 1
  end
end
return new
"""


class RedisEventStream:
    """One Redis stream, read in a consumer group and written keyed by event id."""

    def __init__(self, config: RedisEventStreamConfig) -> None:
        self.config = config
        self._label = f"{redact_url(config.url)}?stream={config.stream}"
        self._client: Any = None
        self._script: Any = None
        self._group_ready = False
        #: own pending events still to read back after a restart ("0"), or None once done
        self._own_cursor: str | None = "0"
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        #: entry ids read and not yet acknowledged: XAUTOCLAIM hands this consumer's own
        #: slow batches back to it too, and a batch still in flight must not come twice
        self._held: set[bytes] = set()
        self._field = config.field.encode()
        self._key_field = config.key_field.encode()

    @classmethod
    def from_config(cls, config: RedisEventStreamConfig) -> RedisEventStream:
        return cls(config)

    @classmethod
    def dead_letter_config(cls, source: RedisEventStreamConfig) -> RedisEventStreamConfig:
        """Where refused events of ``source`` go: ``<stream>-dead`` on the same server."""
        return source.model_copy(update={"stream": f"{source.stream}-dead", "group": None})

    @property
    def label(self) -> str:
        return self._label

    def _redis(self) -> Any:
        if self._client is None:
            self._client = redis_client(
                self.config.url,
                socket_timeout_s=self.config.socket_timeout_s,
                connect_timeout_s=self.config.connect_timeout_s,
            )
        return self._client

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(
            f"Redis stream {self._label} is unreachable: {type(exc).__name__}: "
            f"{redact_url(str(exc))}",
            stream=self._label,
        )

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import redis

        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise self._unavailable(exc) from None

    # -- the source ---------------------------------------------------------------------

    def _ensure_group(self) -> str:
        import redis

        group = self.config.group
        if group is None:
            raise InputError(
                f"reading {self._label} needs a consumer group: add &group=NAME to the URL",
                field="group",
            )
        if not self._group_ready:
            try:
                self._call(
                    self._redis().xgroup_create,
                    self.config.stream,
                    group,
                    id=self.config.start,
                    mkstream=True,
                )
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._group_ready = True
        return group

    def read(self, max_events: int, wait_s: float) -> list[Event]:
        group = self._ensure_group()
        r = self._redis()
        consumer = self.config.consumer
        stream = self.config.stream
        if self._own_cursor is not None:
            reply = self._call(
                r.xreadgroup, group, consumer, {stream: self._own_cursor}, count=max_events
            )
            entries = reply[0][1] if reply else []
            if entries:
                self._own_cursor = entries[-1][0].decode()
                return self._events(entries, redelivered=True)
            self._own_cursor = None
        now = time.monotonic()
        if now >= self._next_claim:
            cursor, claimed, *_ = self._call(
                r.xautoclaim,
                stream,
                group,
                consumer,
                min_idle_time=self.config.claim_idle_ms,
                start_id=self._claim_cursor,
                count=max_events,
            )
            self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
            if self._claim_cursor == "0-0":  # a full pass: look again after a while
                self._next_claim = now + self.config.claim_idle_ms / 2000
            claimed = [c for c in claimed if c[0] not in self._held]
            events = self._events(claimed, redelivered=True)
            if events:
                return events
        block_ms = int(min(wait_s, self.config.socket_timeout_s / 2) * 1000)
        reply = self._call(
            r.xreadgroup,
            group,
            consumer,
            {stream: ">"},
            count=max_events,
            block=block_ms if block_ms > 0 else None,
        )
        return self._events(reply[0][1] if reply else [], redelivered=False)

    def _events(self, entries: Sequence[Any], *, redelivered: bool) -> list[Event]:
        events = []
        gone = []
        for entry_id, fields in entries:
            if not fields:  # trimmed or deleted while pending: nothing left to score
                gone.append(entry_id)
                continue
            sid = entry_id.decode()
            payload = fields.get(self._field)
            if payload is None:
                payload = json.dumps(
                    {
                        k.decode(errors="replace"): v.decode(errors="replace")
                        for k, v in fields.items()
                    }
                ).encode()
            key = fields.get(self._key_field)
            events.append(
                Event(
                    id=key.decode(errors="replace") if key is not None else sid,
                    payload=payload,
                    published_us=int(sid.partition("-")[0]) * 1000,
                    redelivered=redelivered,
                    receipt=entry_id,
                )
            )
        if gone:
            self._call(self._redis().xack, self.config.stream, self.config.group, *gone)
        self._held.update(e.receipt for e in events)
        return events

    def ack(self, events: Sequence[Event]) -> None:
        if not events:
            return
        group = self._ensure_group()
        pipe = self._redis().pipeline(transaction=False)
        for start in range(0, len(events), _CHUNK):
            ids = [e.receipt for e in events[start : start + _CHUNK]]
            pipe.xack(self.config.stream, group, *ids)
        self._call(pipe.execute)
        self._held.difference_update(e.receipt for e in events)

    def lag(self) -> int | None:
        group = self.config.group
        try:
            groups = self._call(self._redis().xinfo_groups, self.config.stream)
        except Exception as exc:
            if isinstance(exc, StoreUnavailable):
                raise
            return None  # no such stream yet
        for info in groups:
            name = info.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == group:
                lag = info.get("lag")
                return int(lag) if lag is not None else None
        return None

    # -- the sink -------------------------------------------------------------------------

    def write(self, messages: Sequence[Message]) -> int:
        if not messages:
            return 0
        r = self._redis()
        if self._script is None:
            self._script = r.register_script(_WRITE_NEW)
        c = self.config
        head = [f"{c.stream}:seen:", c.dedupe_s, c.maxlen, c.key_field, c.field]
        new = 0
        for start in range(0, len(messages), _CHUNK):
            chunk = messages[start : start + _CHUNK]
            pairs = orjson.dumps([[m.key, m.payload.decode("utf-8", "replace")] for m in chunk])
            new += int(self._call(self._script, keys=[c.stream], args=[*head, pairs]))
        return new

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

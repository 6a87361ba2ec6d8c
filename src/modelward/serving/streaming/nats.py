"""NATS JetStream as an event source (a durable pull consumer) and an event sink.

Reading: a durable pull consumer named ``group`` on the JetStream stream that holds
``subject`` (created, with ``subject`` as its only subject, when there is none). Every
consumer process with the same ``group`` shares the durable consumer, so each event goes
to one of them; an event not acknowledged within ``ack_wait_s`` (its consumer died) is
delivered again. A message's event id is its ``Nats-Msg-Id`` header when the producer set
one, else ``<stream>:<stream sequence>``.

Writing: ``publish`` with the message key as ``Nats-Msg-Id``, so JetStream itself drops
a second message with the same key within the stream's duplicate window (``dedupe_s``,
set when this adapter creates the stream; an existing stream keeps its own).

nats-py is asynchronous; the adapter runs its client on an event loop in a thread of its
own and gives the consumer the port's blocking calls. The package is the ``nats`` extra
(``pip install 'modelward[streaming]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from modelward.connections import redact_url
from modelward.errors import InputError, StoreUnavailable
from modelward.serving.streaming.base import Event, Message

__all__ = ["NatsEventStream", "NatsEventStreamConfig"]

T = TypeVar("T")
_MSG_ID = "Nats-Msg-Id"
#: JetStream stream and consumer names
_NAME = r"^[A-Za-z0-9_-]+$"


class NatsEventStreamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["nats"] = "nats"
    url: str = "nats://127.0.0.1:4222"
    subject: str = Field(min_length=1, max_length=512, pattern=r"^[^\s*>]+$")
    #: the JetStream stream; default: the one holding ``subject``, else one named after it
    stream: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_-]+$"
    )
    #: the durable consumer shared by the group's processes; needed to read, not to write
    group: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_-]+$"
    )
    #: accepted so one URL shape fits both technologies; the members of a JetStream pull
    #: consumer have no names, and a restarted member gets its events after ``ack_wait_s``
    consumer: str | None = Field(default=None, max_length=256)
    #: an event not acknowledged this long after delivery is delivered again
    ack_wait_s: float = Field(default=30.0, ge=0.5)
    #: the duplicate window of a stream this adapter creates
    dedupe_s: float = Field(default=3_600.0, ge=1)
    timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=2.0, gt=0)


class _Loop:
    """An asyncio loop in a daemon thread, for blocking callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="modelward-nats", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class NatsEventStream:
    """One subject on NATS JetStream, read by a durable consumer and written deduplicated."""

    def __init__(self, config: NatsEventStreamConfig) -> None:
        self.config = config
        self._label = f"{redact_url(config.url)}?subject={config.subject}"
        self._loop: _Loop | None = None
        self._nc: Any = None
        self._js: Any = None
        self._stream: str | None = config.stream
        self._sub: Any = None
        self._lock = threading.Lock()
        #: stream sequences read and not yet acknowledged: a batch in flight for longer
        #: than ``ack_wait_s`` is delivered again, maybe to this very process
        self._held: set[int] = set()

    @classmethod
    def from_config(cls, config: NatsEventStreamConfig) -> NatsEventStream:
        return cls(config)

    @classmethod
    def dead_letter_config(cls, source: NatsEventStreamConfig) -> NatsEventStreamConfig:
        """Where refused events of ``source`` go: ``<subject>.dead`` on the same server."""
        stream = f"{source.stream}_DEAD" if source.stream else None
        return source.model_copy(
            update={"subject": f"{source.subject}.dead", "stream": stream, "group": None}
        )

    @property
    def label(self) -> str:
        return self._label

    # -- the client ------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        assert self._loop is not None
        import nats.errors

        try:
            return self._loop.run(coro, (timeout or self.config.timeout_s) + 1)
        except (OSError, FutureTimeout, nats.errors.Error) as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        what = str(exc) or type(exc).__name__
        return StoreUnavailable(
            f"NATS stream {self._label} is unreachable: {type(exc).__name__}: {redact_url(what)}",
            stream=self._label,
        )

    def _connect(self) -> Any:
        with self._lock:
            if self._js is not None:
                return self._js
            try:
                import nats
            except ImportError:
                raise InputError(
                    "nats:// streams need the nats-py package: pip install 'modelward[streaming]'",
                    field="stream",
                ) from None
            if self._loop is None:
                self._loop = _Loop()
            c = self.config

            async def connect() -> Any:
                return await nats.connect(
                    servers=[c.url],
                    connect_timeout=c.connect_timeout_s,
                    allow_reconnect=False,
                    max_reconnect_attempts=0,
                )

            self._nc = self._run(connect(), c.connect_timeout_s)
            self._js = self._nc.jetstream(timeout=c.timeout_s)
            self._stream = self._run(self._ensure_stream())
            return self._js

    async def _ensure_stream(self) -> str:
        from nats.js.api import StreamConfig
        from nats.js.errors import NotFoundError

        js, c = self._js, self.config
        if c.stream is None:
            try:
                found: str = await js.find_stream_name_by_subject(c.subject)
                return found
            except NotFoundError:
                pass
        name = c.stream or re.sub(r"[^A-Za-z0-9_-]", "_", c.subject).upper()
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(
                StreamConfig(name=name, subjects=[c.subject], duplicate_window=c.dedupe_s)
            )
        return name

    # -- the source ------------------------------------------------------------------------

    def _subscription(self) -> Any:
        js = self._connect()
        if self._sub is None:
            from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

            c = self.config
            if c.group is None:
                raise InputError(
                    f"reading {self._label} needs a consumer group: add &group=NAME to the URL",
                    field="group",
                )
            config = ConsumerConfig(
                durable_name=c.group,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=c.ack_wait_s,
                max_ack_pending=-1,
            )

            async def subscribe() -> Any:
                return await js.pull_subscribe(
                    c.subject, durable=c.group, stream=self._stream, config=config
                )

            self._sub = self._run(subscribe())
        return self._sub

    def read(self, max_events: int, wait_s: float) -> list[Event]:
        sub = self._subscription()
        import nats.errors

        async def fetch() -> list[Any]:
            try:
                got: list[Any] = await sub.fetch(batch=max_events, timeout=max(wait_s, 0.05))
                return got
            except (TimeoutError, nats.errors.TimeoutError):
                return []  # nothing came in time

        msgs = self._run(fetch(), wait_s + self.config.timeout_s)
        events = []
        for msg in msgs:
            meta = msg.metadata
            if meta.sequence.stream in self._held:
                continue
            key = (msg.headers or {}).get(_MSG_ID)
            events.append(
                Event(
                    id=key or f"{self._stream}:{meta.sequence.stream}",
                    payload=bytes(msg.data),
                    published_us=int(meta.timestamp.timestamp() * 1_000_000),
                    redelivered=meta.num_delivered > 1,
                    receipt=msg,
                )
            )
        self._held.update(e.receipt.metadata.sequence.stream for e in events)
        return events

    def ack(self, events: Sequence[Event]) -> None:
        if not events:
            return
        nc = self._nc

        async def ack_all() -> None:
            await asyncio.gather(*(e.receipt.ack() for e in events))
            await nc.flush(timeout=self.config.timeout_s)

        self._run(ack_all())
        self._held.difference_update(e.receipt.metadata.sequence.stream for e in events)

    def lag(self) -> int | None:
        sub = self._subscription()

        async def info() -> Any:
            return await sub.consumer_info()

        pending = self._run(info()).num_pending
        return int(pending) if pending is not None else None

    # -- the sink --------------------------------------------------------------------------

    def write(self, messages: Sequence[Message]) -> int:
        if not messages:
            return 0
        js = self._connect()
        subject = self.config.subject

        async def publish_all() -> int:
            acks = await asyncio.gather(
                *(js.publish(subject, m.payload, headers={_MSG_ID: m.key}) for m in messages)
            )
            return sum(1 for a in acks if not a.duplicate)

        return self._run(publish_all())

    def close(self) -> None:
        if self._nc is not None and self._loop is not None:
            # a connection that is already gone has nothing left to close
            with contextlib.suppress(Exception):
                self._loop.run(self._nc.close(), self.config.timeout_s)
        self._nc = self._js = self._sub = None
        if self._loop is not None:
            self._loop.close()
            self._loop = None

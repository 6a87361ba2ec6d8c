"""The event stream port: where streaming inference reads events and writes its outputs.

A stream technology (Redis Streams, NATS JetStream) is one class that is both ends of the
port: an :class:`EventSource` read in a consumer group (each event goes to one consumer of
the group, and stays pending until acknowledged, so a consumer that dies has its events
delivered again) and an :class:`EventSink` whose writes are keyed by event id (a second
write of an id is skipped, so a redelivered event never gives a second output). Every
backend passes one shared test suite (tests/integration/backends/test_event_streams.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Event", "EventSink", "EventSource", "Message"]


@dataclass(frozen=True, slots=True)
class Event:
    """One event read from a source, not yet acknowledged."""

    #: what the outputs and the prediction log are keyed by: the producer's key when the
    #: message carries one, else the source's own id for the message
    id: str
    #: the message body as the producer wrote it (streaming inference expects JSON)
    payload: bytes
    #: when the source stored the message, microseconds since the epoch (for the lag)
    published_us: int
    #: delivered before and not acknowledged (its consumer died or gave up)
    redelivered: bool
    #: what :meth:`EventSource.ack` needs to acknowledge this event
    receipt: Any


@dataclass(frozen=True, slots=True)
class Message:
    """One message to write: its key (an event id) and its body."""

    key: str
    payload: bytes


@runtime_checkable
class EventSource(Protocol):
    """The reading end: a consumer in a consumer group."""

    @property
    def label(self) -> str:
        """Where the stream is, for messages and metrics; never holds a password."""
        ...

    def read(self, max_events: int, wait_s: float) -> list[Event]:
        """Up to ``max_events`` events for this consumer, waiting at most ``wait_s`` for one.

        Events this consumer (by its name) was given before and never acknowledged come
        first, then events another consumer of the group left pending for longer than the
        backend's claim timeout, then new ones. An empty list means nothing came in time.
        Raises :class:`~modelward.errors.StoreUnavailable` when the server is unreachable.
        """
        ...

    def ack(self, events: Sequence[Event]) -> None:
        """Acknowledge ``events``: the group never delivers them again."""
        ...

    def lag(self) -> int | None:
        """Events in the stream the group has not been given yet (None if unknown)."""
        ...

    def close(self) -> None:
        """Release connections; the source is not used afterwards."""
        ...


@runtime_checkable
class EventSink(Protocol):
    """The writing end: outputs (and dead letters) keyed by event id."""

    @property
    def label(self) -> str:
        """Where the stream is, for messages and metrics; never holds a password."""
        ...

    def write(self, messages: Sequence[Message]) -> int:
        """Append ``messages``; one whose key was written before (within the backend's
        dedupe window) is skipped. Returns how many were new. Raises
        :class:`~modelward.errors.StoreUnavailable` when the server is unreachable; a
        write that raised may have written some messages, and writing them again is safe.
        """
        ...

    def close(self) -> None:
        """Release connections; the sink is not used afterwards."""
        ...

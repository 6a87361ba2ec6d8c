"""One suite for every event stream backend: Redis Streams and NATS JetStream (real servers).

A stream is written through its sink end and read through its source end, so the suite
needs nothing but the port; each backend's timeouts are set in ``streams.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from modelward.errors import InputError, StoreUnavailable
from modelward.serving.streaming.addresses import open_stream
from modelward.serving.streaming.base import Event, EventSink, EventSource, Message
from tests.integration.backends.streams import KINDS, Streams, streams_on


@pytest.fixture(params=KINDS)
def streams(request: pytest.FixtureRequest) -> Iterator[Streams]:
    yield from streams_on(request.param)


def _open(streams: Streams, url: str) -> EventSource | EventSink:
    opened = open_stream(url, "--source")
    streams.opened.append(opened)
    return opened


def _source(streams: Streams, name: str, **params: object) -> EventSource:
    source = _open(streams, streams.url(name, group="g", **params))
    assert isinstance(source, EventSource)
    return source


def _sink(streams: Streams, name: str) -> EventSink:
    sink = _open(streams, streams.url(name))
    assert isinstance(sink, EventSink)
    return sink


def _messages(*keys: str) -> list[Message]:
    return [Message(k, f'{{"n": "{k}"}}'.encode()) for k in keys]


def _read_all(source: EventSource, want: int, timeout_s: float = 10.0) -> list[Event]:
    """Read until ``want`` events came, or fail at the deadline."""
    got: list[Event] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want:
        assert time.monotonic() < deadline, f"only {len(got)} of {want} events came"
        got.extend(source.read(want - len(got), 0.2))
    return got


def test_written_messages_are_read_in_order_once_acknowledged(streams: Streams) -> None:
    sink = _sink(streams, "events")
    source = _source(streams, "events")
    assert sink.write(_messages("a", "b", "c")) == 3

    events = _read_all(source, 3)
    assert [e.id for e in events] == ["a", "b", "c"]
    assert [e.payload for e in events] == [m.payload for m in _messages("a", "b", "c")]
    assert not any(e.redelivered for e in events)
    assert all(e.published_us > 0 for e in events)
    source.ack(events)
    assert source.read(10, 0.1) == []


def test_a_key_written_again_is_skipped(streams: Streams) -> None:
    sink = _sink(streams, "scores")
    assert sink.write(_messages("a", "b")) == 2
    assert sink.write(_messages("b", "c")) == 1
    assert sink.write(_messages("a")) == 0

    source = _source(streams, "scores")
    assert [e.id for e in _read_all(source, 3)] == ["a", "b", "c"]
    assert source.read(10, 0.1) == []


def test_an_unacknowledged_event_is_delivered_again_after_a_restart(streams: Streams) -> None:
    sink = _sink(streams, "events")
    sink.write(_messages("a", "b", "c"))
    first = _source(streams, "events", consumer="c1")
    taken = _read_all(first, 3)
    first.ack(taken[:1])
    first.close()  # died holding b and c

    again = _source(streams, "events", consumer="c1")
    redelivered = _read_all(again, 2)
    assert [e.id for e in redelivered] == ["b", "c"]
    assert all(e.redelivered for e in redelivered)
    again.ack(redelivered)
    assert again.read(10, 0.1) == []


def test_a_dead_consumers_events_are_taken_over_by_another(streams: Streams) -> None:
    _sink(streams, "events").write(_messages("a", "b"))
    dead = _source(streams, "events", consumer="c1")
    _read_all(dead, 2)  # and never acknowledged

    other = _source(streams, "events", consumer="c2")
    taken = _read_all(other, 2)
    assert sorted(e.id for e in taken) == ["a", "b"]
    assert all(e.redelivered for e in taken)


def test_consumers_of_a_group_share_the_events(streams: Streams) -> None:
    _sink(streams, "events").write(_messages(*(f"k{i}" for i in range(20))))
    one = _source(streams, "events", consumer="c1")
    two = _source(streams, "events", consumer="c2")
    got_one = one.read(10, 1.0)
    got_two = _read_all(two, 20 - len(got_one))
    one.ack(got_one)
    two.ack(got_two)
    ids = [e.id for e in got_one + got_two]
    assert sorted(ids) == sorted(f"k{i}" for i in range(20))
    assert len(set(ids)) == 20


def test_lag_counts_the_events_not_yet_given_to_the_group(streams: Streams) -> None:
    _sink(streams, "events").write(_messages("a", "b", "c", "d"))
    source = _source(streams, "events")
    source.read(1, 0.0)  # joins the group
    assert source.lag() == 3 or source.lag() is None
    source.ack(_read_all(source, 3))
    assert source.lag() in (0, None)


def test_reading_without_a_group_is_refused_naming_the_setting(streams: Streams) -> None:
    source = _open(streams, streams.url("events"))
    with pytest.raises(InputError, match="group=NAME"):
        source.read(1, 0.0)  # type: ignore[union-attr]


def test_an_unreachable_server_is_a_clear_error(streams: Streams) -> None:
    url = streams.url("events", group="g", connect_timeout_s=0.5).replace(
        "6379" if streams.kind == "redis" else "4222", "1"
    )
    source = _open(streams, url)
    with pytest.raises(StoreUnavailable, match="unreachable") as caught:
        source.read(1, 0.0)  # type: ignore[union-attr]
    assert "127.0.0.1:1" in caught.value.message

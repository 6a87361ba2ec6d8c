"""Stream URLs: every name comes back, a bad setting is refused naming it, a password never
shown."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InputError, UnknownPluginType
from modelward.serving.streaming.addresses import open_dead_letter, open_stream, stream_settings

_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
)


@settings(max_examples=60, deadline=None)
@given(stream=_TEXT, group=_TEXT, consumer=_TEXT)
def test_any_stream_group_and_consumer_name_comes_back_from_the_url(
    stream: str, group: str, consumer: str
) -> None:
    url = "redis://127.0.0.1:6379/0?" + urlencode(
        {"stream": stream, "group": group, "consumer": consumer}
    )
    got = stream_settings(url, "--source")
    assert got == {
        "type": "redis",
        "url": "redis://127.0.0.1:6379/0",
        "stream": stream,
        "group": group,
        "consumer": consumer,
    }


@pytest.mark.parametrize(
    ("url", "field", "says"),
    [
        ("127.0.0.1:6379", "--source", "is not a stream URL"),
        ("redis://h:6379/0?stream=a&stream=b", "--source.stream", "given twice"),
        ("redis://h:6379/0?stream=a&colour=red", "--source.colour", "Extra inputs"),
        ("redis://h:6379/0?group=g", "--source.stream", "Field required"),
        ("redis://h:6379/0?stream=a&claim_idle_ms=ten", "--source.claim_idle_ms", "integer"),
        ("nats://h:4222?subject=a.*", "--source.subject", "pattern"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(url: str, field: str, says: str) -> None:
    with pytest.raises(InputError, match=says) as caught:
        open_stream(url, "--source")
    assert caught.value.details["field"] == field


def test_an_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(UnknownPluginType, match="known: nats, redis"):
        open_stream("kafka://h:9092?topic=a", "--sink")


def test_a_password_never_reaches_the_message() -> None:
    with pytest.raises(InputError) as caught:
        open_stream("redis://:s3cret@h:6379/0?stream=a&maxlen=-1", "--sink")
    assert "s3cret" not in caught.value.message
    stream = open_stream("redis://:s3cret@h:6379/0?stream=a", "--sink")
    assert "s3cret" not in stream.label


def test_the_dead_letter_stream_sits_beside_the_source() -> None:
    redis = open_dead_letter("redis://h:6379/0?stream=events&group=g", "--source")
    assert redis.config.stream == "events-dead" and redis.config.group is None
    nats = open_dead_letter("nats://h:4222?subject=events&group=g", "--source")
    assert nats.config.subject == "events.dead" and nats.config.group is None

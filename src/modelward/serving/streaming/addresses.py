"""Stream addresses: ``redis://host:6379/0?stream=events&group=scorers`` to an open stream.

The URL's scheme picks the technology (a :class:`~modelward.plugins.PluginFamily`, so a
third-party package can add one through the ``modelward.event_streams`` entry point
group); the query holds that technology's settings, checked by its pydantic config class
(``<Class>Config`` beside it). A bad setting is refused naming the option and the setting
(``--source.claim_idle_ms: Input should be greater than or equal to 100``); a URL that
reaches a message has its password masked.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from modelward.connections import redact_url
from modelward.errors import InputError
from modelward.plugins import PluginFamily

__all__ = ["EVENT_STREAMS", "open_dead_letter", "open_stream", "stream_settings"]

#: URL scheme -> "module:Class"; each class is both an event source and an event sink
EVENT_STREAMS = PluginFamily(
    kind="event stream",
    setting="stream",
    group="modelward.event_streams",
    builtins={
        "redis": "modelward.serving.streaming.redis:RedisEventStream",
        "nats": "modelward.serving.streaming.nats:NatsEventStream",
    },
)

_EXAMPLE = (
    "redis://127.0.0.1:6379/0?stream=events&group=scorers or nats://127.0.0.1:4222?subject=events"
)


def stream_settings(url: str, option: str) -> dict[str, Any]:
    """The settings ``url`` holds: ``type`` (the scheme), ``url`` (without the query) and
    every query parameter, for the technology's config class."""
    try:
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise InputError(
            f"{option} {redact_url(url)!r} is not a stream URL ({exc}); e.g. {_EXAMPLE}",
            field=option,
        ) from None
    if not parts.scheme or not parts.netloc:
        raise InputError(
            f"{option} {redact_url(url)!r} is not a stream URL; e.g. {_EXAMPLE}", field=option
        )
    settings: dict[str, Any] = {}
    for name, value in pairs:
        if name in ("type", "url"):
            raise InputError(f"{option}: {name!r} is not a stream setting", field=option)
        if name in settings:
            raise InputError(f"{option}: {name!r} is given twice", field=f"{option}.{name}")
        settings[name] = value
    return {**settings, "type": parts.scheme, "url": urlunsplit(parts._replace(query=""))}


def _parse(url: str, option: str) -> tuple[Any, Any]:
    """The class ``url``'s scheme names and its settings, parsed by its config class."""
    from pydantic import ValidationError

    settings = stream_settings(url, option)
    cls = EVENT_STREAMS.load(settings["type"], setting=option)
    config_cls = getattr(importlib.import_module(cls.__module__), f"{cls.__name__}Config")
    try:
        return cls, config_cls(**settings)
    except ValidationError as exc:
        where = "; ".join(
            f"{option}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        first = exc.errors()[0]["loc"]
        raise InputError(where, field=f"{option}.{first[0] if first else ''}") from None


def open_stream(url: str, option: str) -> Any:
    """The stream ``url`` names, opened (connections are made on first use)."""
    cls, parsed = _parse(url, option)
    return cls.from_config(parsed)


def open_dead_letter(source_url: str, option: str) -> Any:
    """The dead-letter stream of the source ``source_url``: on the same server, named by
    the technology (``<stream>-dead`` on Redis, ``<subject>.dead`` on NATS)."""
    cls, parsed = _parse(source_url, option)
    return cls.from_config(cls.dead_letter_config(parsed))

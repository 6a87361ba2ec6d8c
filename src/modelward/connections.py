"""Connections to the servers backends share: a Redis client, and URLs fit for a message.

Several ports have a Redis backend (the online feature store, the prediction log); they
open their client here, so each gets the same bounded timeouts and the same refusal to
retry an unreachable server (a retry would multiply the bounded wait). Any URL that may
carry a password goes through :func:`redact_url` before it reaches a message or a log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url", "redis_client"]


def redact_url(url: str) -> str:
    """``url`` with its password masked: ``redis://u:***@host:6379/0``.

    >>> redact_url("redis://:s3cret@cache:6379/0")
    'redis://:***@cache:6379/0'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def redis_client(url: str, *, socket_timeout_s: float, connect_timeout_s: float) -> Any:
    """A ``redis.Redis`` for ``url`` whose every call ends within the given timeouts."""
    import redis

    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=connect_timeout_s,
        retry_on_timeout=False,
        retry=None,
    )

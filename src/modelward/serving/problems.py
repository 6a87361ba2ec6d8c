"""The gateway's error answers on the ASGI wire, and the fallback reason of a degraded one.

The errors and their problem+json document are :mod:`modelward.errors`'s (the REST API
answers with the same document); this module only serializes it with orjson and sends it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from modelward.errors import ModelwardError

__all__ = [
    "fallback_reason",
    "problem_body",
    "respond",
]

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def problem_body(exc: ModelwardError, request_id: str) -> bytes:
    problem = exc.to_problem(request_id=request_id)
    try:
        return orjson.dumps(problem, default=str)
    except orjson.JSONEncodeError:
        # text orjson refuses (a lone surrogate echoed from the request): the stdlib
        # escapes it as \\udXXX, so the caller still gets its 4xx, never a 500
        return json.dumps(problem, default=str, ensure_ascii=True).encode()


def fallback_reason(reason: str | None) -> str:
    if not reason:
        return "unknown"
    if "circuit open" in reason:
        return "breaker_open"
    if "latency budget" in reason:
        return "timeout"
    if reason.startswith("feature store"):
        return "feature_store"
    if reason.startswith("model failed"):
        return "model_error"
    if reason.startswith("model unavailable"):
        return "model_unavailable"
    if reason.startswith("the feature lookup failed"):
        return "row_refused"
    return "missing_features"


async def respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], request_id: str
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

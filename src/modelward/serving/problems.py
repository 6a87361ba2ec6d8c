"""Gateway errors, their application/problem+json form (RFC 9457), and the ASGI answer.

These belong to the one hierarchy in :mod:`modelward.errors` (they subclass its classes);
they live here until that module adopts them, because only the gateway raises them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, ClassVar

import orjson

from modelward.errors import InputError, ModelwardError

__all__ = [
    "InternalError",
    "MalformedRequest",
    "MethodNotAllowed",
    "Overloaded",
    "PayloadTooLarge",
    "RequestInvalid",
    "fallback_reason",
    "problem_body",
    "respond",
]

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class MalformedRequest(InputError):
    """The body is not JSON (or not an object): nothing in it can be checked."""

    http_status = 400
    title = "malformed request"


class RequestInvalid(InputError):
    """The body is JSON but breaks the endpoint's request schema; ``details["errors"]``
    names each bad field and the rule it broke."""

    title = "request does not match the endpoint schema"


class PayloadTooLarge(ModelwardError):
    http_status = 413
    title = "request body too large"


class Overloaded(ModelwardError):
    """More requests in flight than the limit: come back later (``Retry-After``)."""

    http_status = 503
    title = "overloaded"
    retry_after_s: ClassVar[int] = 1


def problem_body(exc: ModelwardError, request_id: str) -> bytes:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": exc.title,
        "status": exc.http_status,
        "detail": exc.message,
        "error": type(exc).__name__,
        "request_id": request_id,
    }
    for key, value in exc.details.items():
        body.setdefault(key, value)
    return orjson.dumps(body, default=str)


class MethodNotAllowed(ModelwardError):
    http_status = 405
    title = "method not allowed"


class InternalError(ModelwardError):
    http_status = 500
    title = "internal error"

    def __init__(self) -> None:
        super().__init__("the gateway failed on this request; it is logged with its request id")


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

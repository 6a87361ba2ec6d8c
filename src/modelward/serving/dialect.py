"""How a request body becomes rows and an answer becomes a response body, per protocol.

The gateway has one scoring path (token, endpoint, callers, body limits, concurrency slot,
validation, release routing, breakers, features, model, fallback, metrics, prediction
log). A protocol (the native ``{"inputs"}`` body, the Open Inference Protocol over REST
or gRPC, MLflow's scoring format) only changes the two ends of it: a :class:`Dialect`
turns the body into the endpoint's rows, and the answer or the error into its own body.
Every dialect hands its rows to the endpoint's :class:`~modelward.serving.schema.
RequestSchema`, so the rules a request must meet are the same whatever it speaks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from modelward.errors import ModelwardError
from modelward.serving.problems import problem_body

if TYPE_CHECKING:
    from modelward.serving.runtime import EndpointRuntime

__all__ = ["JSON", "NATIVE", "Dialect", "HttpRequest", "NativeDialect", "Parsed"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = [(b"content-type", b"application/json")]
_PROBLEM = [(b"content-type", b"application/problem+json")]


@dataclass(slots=True)
class Parsed:
    """The rows of one request and what the dialect needs again to answer it."""

    rows: list[dict[str, Any]]
    batch: bool
    #: the dialect's own memo from parsing to rendering (a request id, asked outputs)
    context: Any = None


class Dialect(Protocol):
    """The two protocol-specific ends of the gateway's one scoring path."""

    #: headers of a successful answer (its content type)
    headers: list[tuple[bytes, bytes]]

    def parse(self, runtime: EndpointRuntime, body: bytes) -> Parsed:
        """The validated rows of ``body``; raise a :class:`ModelwardError` (4xx) if bad."""
        ...

    def render(self, payload: dict[str, Any], parsed: Parsed) -> bytes:
        """The response body of a scored request; ``payload`` is the native answer."""
        ...

    def problem(
        self, exc: ModelwardError, request_id: str
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The body and headers of an error answer (its status is ``exc.http_status``)."""
        ...


class NativeDialect:
    """``{"inputs": {...}}`` in, the gateway's own answer out; errors as problem+json."""

    headers = JSON

    def parse(self, runtime: EndpointRuntime, body: bytes) -> Parsed:
        rows, batch = runtime.schema.parse(body)
        return Parsed(rows, batch)

    def render(self, payload: dict[str, Any], parsed: Parsed) -> bytes:
        return orjson.dumps(payload)

    def problem(
        self, exc: ModelwardError, request_id: str
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        return problem_body(exc, request_id), _PROBLEM


NATIVE = NativeDialect()


@dataclass(slots=True)
class HttpRequest:
    """One HTTP request the gateway's own routes did not take, for a mounted route."""

    path: str
    method: str
    authorization: str | None
    length: bytes | None
    content_type: bytes | None
    request_id: str
    started: float
    receive: Receive
    send: Send
    #: every header as received (the ones above are read once, by the gateway)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def header(self, name: bytes) -> bytes | None:
        """The value of header ``name`` (lower case), if sent."""
        return next((value for key, value in self.headers if key == name), None)

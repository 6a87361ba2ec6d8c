"""What every request to the REST API passes before a route sees it (a plain ASGI layer).

In this order, so that no route runs for a caller who may not be there:

1. **Authentication** of ``/api/*`` requests from the ``Authorization`` header alone:
   a missing or bad token is 401 before anything of the body is read or validated.
2. **Rate limit per API token** (a token bucket per worker process): 429 with
   ``Retry-After`` past ``[server] rate_limit_per_minute``.
3. **Body size**: a ``Content-Length`` over ``[server] max_body_bytes`` is 413 without
   reading; a body without a length is read up to the limit and refused past it.
4. **Security headers** on every answer, errors included.

The authenticated principal is handed to the routes in the request state
(:func:`modelward.api.deps.principal` reads it), so a token is checked once per request.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio

from modelward.errors import ModelwardError, PayloadTooLarge, RateLimited, Unauthenticated
from modelward.serving import problem_response_for

if TYPE_CHECKING:
    from modelward.config import ServerSettings
    from modelward.security import Principal
    from modelward.session import Session

__all__ = ["PRINCIPAL_STATE", "Guard", "TokenBuckets"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: key of the authenticated :class:`~modelward.security.roles.Principal` in the request state
PRINCIPAL_STATE = "modelward_principal"

_API_PREFIX = "/api/"
_DOC_PATHS = ("/docs", "/redoc", "/static-offline-docs")
_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# JSON answers load nothing; the documentation pages load only their own bundled assets
# (Swagger UI starts from an inline script, Redoc renders in a blob: worker)
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
_DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
    b"'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)


class TokenBuckets:
    """``per_minute`` requests per key on average, ``burst`` at once; bounded memory.

    :meth:`take` returns 0 when a request may go ahead, else the seconds until it may.
    At most ``max_keys`` keys are remembered (the least recently seen is forgotten, which
    only ever gives that key a full bucket again).
    """

    def __init__(
        self,
        per_minute: int,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def take(self, key: str) -> float:
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self._rate
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return wait


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _bearer(scope: Scope) -> str | None:
    value = _header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, credentials = value.strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


class Guard:
    """The ASGI layer described in the module docstring, around the FastAPI app."""

    def __init__(self, app: ASGIApp, *, session: Session, settings: ServerSettings) -> None:
        self.app = app
        self._session = session
        self._max_body = settings.max_body_bytes
        self.buckets = TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._secure(scope, send)
        try:
            if scope["path"].startswith(_API_PREFIX):
                who, token_id = await anyio.to_thread.run_sync(self._authenticate, _bearer(scope))
                wait = self.buckets.take(token_id)
                if wait > 0:
                    seconds = max(1, math.ceil(wait))
                    raise RateLimited(
                        f"too many requests for this API token; try again in {seconds} s",
                        retry_after=seconds,
                    )
                scope.setdefault("state", {})[PRINCIPAL_STATE] = who
            receive = await self._bounded_body(scope, receive)
        except ModelwardError as exc:
            await problem_response_for(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authenticate(self, token: str | None) -> tuple[Principal, str]:
        from modelward.security import authenticate

        if token is None:
            raise Unauthenticated("an API token is required (Authorization: Bearer <token>)")
        with self._session.store.read() as conn:
            who = authenticate(conn, token)
        return who, token.split("_", 2)[1]

    async def _bounded_body(self, scope: Scope, receive: Receive) -> Receive:
        """The body read here, up to the limit, and replayed to the app."""
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self._max_body:
            raise PayloadTooLarge(self._too_large(int(length)), limit=self._max_body)
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return receive
            chunk = bytes(message.get("body", b""))
            seen += len(chunk)
            if seen > self._max_body:
                raise PayloadTooLarge(self._too_large(None), limit=self._max_body)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    def _too_large(self, length: int | None) -> str:
        size = f" of {length:,} bytes" if length is not None else ""
        return (
            f"the request body{size} is over the limit of {self._max_body:,} bytes "
            "([server] max_body_bytes)"
        )

    @staticmethod
    def _secure(scope: Scope, send: Send) -> Send:
        docs = scope["path"].startswith(_DOC_PATHS)
        extra = [
            *_COMMON_HEADERS,
            (b"content-security-policy", _DOCS_CSP if docs else _API_CSP),
        ]
        if not docs:
            extra.append((b"cache-control", b"no-store"))
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", b"max-age=31536000"))

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {bytes(k).lower() for k, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in present)
                message["headers"] = headers
            await send(message)

        return send_secure

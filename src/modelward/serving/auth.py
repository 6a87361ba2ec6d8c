"""Token checks for the gateway, cached so a request never waits on the metadata database.

A token is verified with the security context's :func:`~modelward.security.tokens.
authenticate` once, then trusted for ``ttl_s`` seconds (revocation takes effect within
that time). Unknown tokens are cached as refused too, in a bounded map, so a stream of
bad tokens cannot turn into a stream of database queries.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from modelward.errors import PermissionDenied, Unauthenticated
from modelward.security import Principal
from modelward.serving.endpoints import EndpointSpec

__all__ = ["TokenVerifier", "may_call"]

_MAX_ENTRIES = 10_000


def may_call(principal: Principal, spec: EndpointSpec) -> None:
    """Raise :class:`PermissionDenied` unless ``principal`` is among the endpoint's callers."""
    callers = spec.callers
    if not callers:
        return
    if principal.name in callers or f"role:{principal.role.value}" in callers:
        return
    raise PermissionDenied(
        f"{principal.name} may not call endpoint {spec.name!r}: it is not among its callers",
        endpoint=spec.name,
    )


class TokenVerifier:
    def __init__(self, authenticate: Callable[[str], Principal], ttl_s: float = 30.0) -> None:
        self._authenticate = authenticate
        self._ttl = ttl_s
        self._cache: OrderedDict[str, tuple[float, Principal | Unauthenticated]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[tuple[float, Principal | Unauthenticated]]] = {}

    async def _check(self, token: str) -> tuple[float, Principal | Unauthenticated]:
        try:
            outcome: Principal | Unauthenticated = await asyncio.to_thread(
                self._authenticate, token
            )
        except Unauthenticated as exc:
            outcome = exc
        finally:
            self._pending.pop(token, None)
        hit = (time.monotonic() + self._ttl, outcome)
        self._cache[token] = hit
        if len(self._cache) > _MAX_ENTRIES:
            self._cache.popitem(last=False)
        return hit

    async def principal(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("an API token is required (Authorization: Bearer <token>)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("use the Authorization: Bearer <token> scheme")
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is None or hit[0] <= now:
            pending = self._pending.get(token)
            if pending is None:  # one database check per token, however many requests wait
                pending = asyncio.ensure_future(self._check(token))
                self._pending[token] = pending
            hit = await asyncio.shield(pending)
        found = hit[1]
        if isinstance(found, Unauthenticated):
            raise Unauthenticated(found.message)
        return found

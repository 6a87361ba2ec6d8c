"""Token checks for the gateway, cached so a request never waits on the metadata database.

A token is verified with the security context's :func:`~modelward.security.tokens.
authenticate` once, then trusted for ``ttl_s`` seconds (revocation takes effect within
that time). Unknown tokens are cached as refused too, in a bounded map, so a stream of
bad tokens cannot turn into a stream of database queries.

When the database cannot be reached, serving keeps the last good state: a token whose
last successful check is at most ``grace_s`` seconds old keeps its last answer (allowed,
or refused), re-checked every ``retry_s`` seconds until the database answers again; a
token never seen, or seen longer ago than the grace, is answered 503
(:class:`~modelward.errors.StoreUnavailable`), never 500. :attr:`TokenVerifier.
database_problem` says what failed, for ``/readyz``. A token revoked during the outage is
honoured until the database is back or the grace ends: the grace is that bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from modelward.errors import ModelwardError, PermissionDenied, StoreUnavailable, Unauthenticated
from modelward.security import Principal
from modelward.serving.endpoints import EndpointSpec

__all__ = ["TokenVerifier", "may_call"]

_MAX_ENTRIES = 10_000
_log = logging.getLogger("modelward.serving")


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


class _Checked(NamedTuple):
    #: trusted until (the clock's time)
    expires: float
    outcome: Principal | Unauthenticated
    #: when the database last answered for this token
    verified_at: float


class TokenVerifier:
    def __init__(
        self,
        authenticate: Callable[[str], Principal],
        ttl_s: float = 30.0,
        *,
        grace_s: float = 600.0,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._authenticate = authenticate
        self._ttl = ttl_s
        self._grace = grace_s
        self._retry = min(retry_s, ttl_s)
        self._now = clock
        self._cache: OrderedDict[str, _Checked] = OrderedDict()
        self._pending: dict[str, asyncio.Future[_Checked]] = {}
        #: what failed when the database was last asked, None once it answers again
        self.database_problem: str | None = None
        #: token checks answered from the grace (the database was unreachable)
        self.grace_answers = 0

    async def _check(self, token: str) -> _Checked:
        try:
            outcome: Principal | Unauthenticated = await asyncio.to_thread(
                self._authenticate, token
            )
        except Unauthenticated as exc:
            outcome = exc
        except Exception as exc:  # the database, not the token: keep the last good answer
            return self._unreachable(token, exc)
        finally:
            self._pending.pop(token, None)
        if self.database_problem is not None:
            _log.warning("token checks: the metadata database answers again")
            self.database_problem = None
        now = self._now()
        hit = _Checked(now + self._ttl, outcome, now)
        self._store(token, hit)
        return hit

    def _unreachable(self, token: str, exc: Exception) -> _Checked:
        # a ModelwardError's message is already redacted; anything else (a driver error
        # quoting its SQL and parameters, the token's hash among them) only by its class
        why = exc.message if isinstance(exc, ModelwardError) else type(exc).__name__
        if self.database_problem is None:
            _log.error("token checks: the metadata database cannot be reached: %s", why)
        self.database_problem = f"token checks cannot reach the metadata database: {why}"[:300]
        now = self._now()
        last = self._cache.get(token)
        if last is None or now - last.verified_at > self._grace:
            raise StoreUnavailable(
                "the API token cannot be verified: the metadata database is unreachable; "
                "retry shortly",
                store="metadata",
            )
        self.grace_answers += 1
        hit = last._replace(expires=now + self._retry)
        self._store(token, hit)
        return hit

    def _store(self, token: str, hit: _Checked) -> None:
        self._cache[token] = hit
        self._cache.move_to_end(token)
        if len(self._cache) > _MAX_ENTRIES:
            self._cache.popitem(last=False)

    async def principal(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("an API token is required (Authorization: Bearer <token>)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("use the Authorization: Bearer <token> scheme")
        hit = self._cache.get(token)
        if hit is None or hit.expires <= self._now():
            pending = self._pending.get(token)
            if pending is None:  # one database check per token, however many requests wait
                pending = asyncio.ensure_future(self._check(token))
                self._pending[token] = pending
            hit = await asyncio.shield(pending)
        found = hit.outcome
        if isinstance(found, Unauthenticated):
            raise Unauthenticated(found.message)
        return found

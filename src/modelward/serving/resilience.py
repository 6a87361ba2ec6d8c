"""Resilience parts of the gateway: circuit breakers and the concurrency limit.

The per-request deadline is ``asyncio.timeout`` around the wait for the model worker (see
:mod:`modelward.serving.runtime`); these classes decide *whether* to try at all.
Both run on the event loop only, so they need no locks.
"""

from __future__ import annotations

import time
from enum import IntEnum

__all__ = ["BreakerState", "CircuitBreaker", "ConcurrencyLimit"]


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``reset_s`` lets one probe through.

    A successful probe closes it, a failed one opens it again for another ``reset_s``.
    While open, callers skip the protected call and answer with the fallback at once.
    """

    # set when the breaker opens, and read only while it is open
    _opened_at: float
    # whether the half-open breaker's one probe is out; read only while half-open, and
    # cleared on the way there, so what closing or opening leaves in it does not matter
    _probing: bool

    def __init__(
        self,
        name: str,
        *,
        threshold: int = 5,
        reset_s: float = 5.0,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.reset_s = reset_s
        self._now = time.monotonic
        self.failures = 0
        self.state = BreakerState.CLOSED

    def allow(self) -> bool:
        """Whether a call may go ahead now (a half-open breaker admits one probe)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._now() - self._opened_at < self.reset_s:
                return False
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        self.failures = 0
        self.state = BreakerState.CLOSED

    def release(self) -> None:
        """The call went ahead but says nothing about the dependency's health: a probe
        released so is not counted, and the next call may probe instead."""
        self._probing = False

    def failure(self) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.state = BreakerState.OPEN
            self._opened_at = self._now()


class ConcurrencyLimit:
    """At most ``limit`` requests in flight; past it, refuse at once rather than queue."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def try_acquire(self) -> bool:
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1

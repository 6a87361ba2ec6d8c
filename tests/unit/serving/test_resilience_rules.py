"""The gateway's circuit breaker and concurrency limit, at each of their edges.

The breaker decides whether the gateway calls a model (or the feature store) at all or
answers with the fallback at once; the limit decides whether a request is served or
refused with 503. Each edge is written out: the failure that opens the breaker (the
``threshold``-th, not one earlier), the instant it half-opens (exactly ``reset_s`` after
opening), the single probe, and the request that is one past the limit.
"""

from __future__ import annotations

import time

from modelward.serving.resilience import BreakerState, CircuitBreaker, ConcurrencyLimit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(threshold: int = 3, reset_s: float = 5.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    b = CircuitBreaker("m:model", threshold=threshold, reset_s=reset_s)
    b._now = clock
    return b, clock


def test_a_new_breaker_is_closed_with_the_documented_defaults() -> None:
    b = CircuitBreaker("m:features")

    assert (b.name, b.threshold, b.reset_s) == ("m:features", 5, 5.0)
    assert (b.state, b.failures) == (BreakerState.CLOSED, 0)
    assert b._now is time.monotonic
    assert all(b.allow() for _ in range(10))  # closed: every call goes ahead
    assert [int(s) for s in BreakerState] == [0, 1, 2]  # exported as a gauge value


def test_it_opens_at_the_threshold_th_consecutive_failure_not_before() -> None:
    b, _ = breaker(threshold=3)

    b.failure()
    b.failure()
    assert (b.state, b.failures) == (BreakerState.CLOSED, 2)
    assert b.allow()
    b.failure()
    assert (b.state, b.failures) == (BreakerState.OPEN, 3)
    assert not b.allow()


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    b, _ = breaker(threshold=3)
    b.failure()
    b.failure()

    b.success()
    b.failure()
    b.failure()

    assert (b.state, b.failures) == (BreakerState.CLOSED, 2)


def test_a_release_says_nothing_about_health() -> None:
    b, _ = breaker(threshold=2)
    b.failure()

    b.release()

    assert (b.state, b.failures) == (BreakerState.CLOSED, 1)
    b.failure()
    assert b.state is BreakerState.OPEN


def test_it_half_opens_exactly_reset_s_after_opening() -> None:
    b, clock = breaker(threshold=1, reset_s=5.0)
    b.failure()
    opened = clock.now

    clock.now = opened + 4.999
    assert not b.allow()
    assert b.state is BreakerState.OPEN
    clock.now = opened + 5.0
    assert b.allow()  # the probe
    assert b.state is BreakerState.HALF_OPEN


def test_half_open_admits_one_probe_until_it_reports() -> None:
    b, clock = breaker(threshold=1)
    b.failure()
    clock.now += 5.0

    assert b.allow()
    assert not b.allow()  # a second caller while the probe is out gets the fallback
    assert not b.allow()
    b.release()  # the probe went ahead but proved nothing: let another try
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()
    assert not b.allow()
    b.success()
    assert (b.state, b.failures) == (BreakerState.CLOSED, 0)
    assert b.allow() and b.allow()


def test_a_failed_probe_opens_it_for_another_reset_s_from_the_probe() -> None:
    b, clock = breaker(threshold=3)
    for _ in range(3):
        b.failure()
    clock.now += 5.0
    assert b.allow()

    clock.now += 1.0  # the probe took a second to fail
    reopened_at = clock.now
    b.failure()

    assert (b.state, b.failures) == (BreakerState.OPEN, 4)
    clock.now = reopened_at + 4.9
    assert not b.allow()
    clock.now = reopened_at + 5.0
    assert b.allow()


def test_a_probe_after_a_long_outage_still_waits_its_reset_from_the_last_failure() -> None:
    b, clock = breaker(threshold=1, reset_s=2.0)
    b.failure()
    clock.now += 60.0
    assert b.allow()
    b.failure()

    clock.now += 1.0
    assert not b.allow()  # not 61 s after the first opening: 1 s after the last
    clock.now += 1.0
    assert b.allow()


def test_a_breaker_opened_by_its_probe_lets_a_new_probe_through_later() -> None:
    b, clock = breaker(threshold=1)
    b.failure()
    clock.now += 5.0
    assert b.allow()
    b.failure()
    clock.now += 5.0

    assert b.allow()  # the earlier probe's reservation does not block the next one
    assert not b.allow()


def test_the_concurrency_limit_refuses_the_request_one_past_it() -> None:
    limit = ConcurrencyLimit(2)

    assert (limit.limit, limit.in_flight) == (2, 0)
    assert limit.try_acquire()
    assert limit.try_acquire()
    assert limit.in_flight == 2
    assert not limit.try_acquire()  # refused at once, not queued
    assert limit.in_flight == 2  # a refused request takes no slot
    limit.release()
    assert limit.in_flight == 1
    assert limit.try_acquire()
    assert not limit.try_acquire()
    limit.release()
    limit.release()
    assert limit.in_flight == 0  # every finished request gives its slot back


def test_a_limit_of_zero_refuses_every_request() -> None:
    limit = ConcurrencyLimit(0)

    assert not limit.try_acquire()
    assert limit.in_flight == 0

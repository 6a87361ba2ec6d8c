"""Traffic plans and the routing decision: which version answers a request, which shadows it.

This module is pure (no I/O, no clock, no randomness): the gateway imports it on the
request path. A plan is built once per config refresh; :meth:`TrafficPlan.route` is the
per-request cost, one keyed BLAKE2b hash of the sticky key and two integer compares.

Routing is sticky: the same key lands in the same bucket of 10,000 for the whole release,
in every worker and after a restart (the hash is keyed by the release id, not by the
process's ``hash()`` seed), and a key on the candidate at 5 % stays on it at 25 % (a
bucket is below the cut of every larger weight), so a customer never flips back and forth.

>>> plan = TrafficPlan.canary("churn@2", "churn@3", weight=25.0, release_id="r1")
>>> plan.route("customer-42").role in ("primary", "candidate")
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from modelward.errors import InputError

__all__ = [
    "BUCKETS",
    "EndpointPlan",
    "Route",
    "Strategy",
    "TrafficPlan",
    "bucket_of",
    "parse_strategy",
]

#: the number of buckets a key hashes into: weights have a resolution of 0.01 %
BUCKETS = 10_000


class Strategy(StrEnum):
    #: one version answers everything (no release, or a finished one)
    SINGLE = "single"
    #: two warm slots, one live: the candidate answers 0 % or 100 %
    BLUE_GREEN = "blue_green"
    #: the candidate answers a growing share, step by step
    CANARY = "canary"
    #: the candidate scores a copy of (a sample of) requests; it never answers
    SHADOW = "shadow"


def parse_strategy(value: str) -> Strategy:
    """``canary``, ``blue-green`` (or ``blue_green``), ``shadow`` or ``single``."""
    try:
        return Strategy(value.strip().lower().replace("-", "_"))
    except ValueError:
        raise InputError(
            f"strategy: {value[:40]!r} is not a strategy; use canary, blue-green or shadow",
            field="strategy",
        ) from None


class Route(NamedTuple):
    """The decision for one request."""

    #: the ``NAME@VERSION`` that answers
    version: str
    #: its part, as the prediction log records it: ``primary`` or ``candidate``
    role: str
    #: a version that also scores the request off the response path, or ``None``
    shadow: str | None
    #: the release this answer belongs to; empty outside a release
    release_id: str


def bucket_of(key: str, salt: bytes = b"") -> int:
    """The key's bucket in ``0..BUCKETS-1``; the same on every machine and Python."""
    return _bucket(hashlib.blake2b(digest_size=8, key=salt), key)


def _bucket(keyed: hashlib.blake2b, key: str) -> int:
    # copying a keyed hasher skips hashing the key block again: a third cheaper per call
    hasher = keyed.copy()
    hasher.update(key.encode())
    return int.from_bytes(hasher.digest(), "big") % BUCKETS


def _cut(percent: float, what: str) -> int:
    if not 0.0 <= percent <= 100.0:
        raise InputError(f"{what}: {percent} is outside 0..100", field=what)
    return round(percent * BUCKETS / 100.0)


@dataclass(frozen=True)
class TrafficPlan:
    """What an endpoint serves now. Build with the class methods; route with :meth:`route`.

    ``weight`` is the percentage of keys the candidate answers (canary, blue-green);
    ``shadow_percent`` the percentage it scores as a shadow copy (shadow).
    """

    strategy: Strategy
    baseline: str
    candidate: str | None = None
    weight: float = 0.0
    shadow_percent: float = 0.0
    release_id: str = ""
    #: the request field whose value keys the sticky hash; ``None``: the caller's choice
    #: (the endpoint's first entity key, else the request id)
    sticky_by: str | None = None
    _candidate_cut: int = field(default=0, init=False, repr=False, compare=False)
    _shadow_cut: int = field(default=0, init=False, repr=False, compare=False)
    _hasher: hashlib.blake2b = field(init=False, repr=False, compare=False)
    _baseline_route: Route = field(init=False, repr=False, compare=False)
    _candidate_route: Route = field(init=False, repr=False, compare=False)
    _shadowed_route: Route = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        needs_candidate = self.strategy is not Strategy.SINGLE
        if needs_candidate and not self.candidate:
            raise InputError(f"a {self.strategy.value} plan needs a candidate", field="candidate")
        if self.strategy is Strategy.BLUE_GREEN and self.weight not in (0.0, 100.0):
            raise InputError(
                f"weight: a blue-green plan is 0 or 100, not {self.weight}", field="weight"
            )
        if self.strategy is not Strategy.SHADOW and self.shadow_percent:
            raise InputError("shadow_percent: only a shadow plan mirrors", field="shadow_percent")
        if self.strategy in (Strategy.SINGLE, Strategy.SHADOW) and self.weight:
            raise InputError(
                f"weight: a {self.strategy.value} plan sends the candidate no answers",
                field="weight",
            )
        set_ = object.__setattr__  # frozen: derived fields are set once, here
        set_(self, "_candidate_cut", _cut(self.weight, "weight"))
        set_(self, "_shadow_cut", _cut(self.shadow_percent, "shadow_percent"))
        # keyed by the release, so a new release reshuffles who sees a candidate first
        salt = hashlib.blake2b(self.release_id.encode(), digest_size=16).digest()
        set_(self, "_hasher", hashlib.blake2b(digest_size=8, key=salt))
        set_(self, "_baseline_route", Route(self.baseline, "primary", None, self.release_id))
        set_(
            self,
            "_candidate_route",
            Route(self.candidate or self.baseline, "candidate", None, self.release_id),
        )
        set_(
            self,
            "_shadowed_route",
            Route(self.baseline, "primary", self.candidate, self.release_id),
        )

    # -- constructors ---------------------------------------------------------------------

    @classmethod
    def single(cls, version: str) -> TrafficPlan:
        return cls(Strategy.SINGLE, version)

    @classmethod
    def canary(
        cls,
        baseline: str,
        candidate: str,
        *,
        weight: float,
        release_id: str,
        sticky_by: str | None = None,
    ) -> TrafficPlan:
        return cls(Strategy.CANARY, baseline, candidate, weight, 0.0, release_id, sticky_by)

    @classmethod
    def blue_green(
        cls,
        blue: str,
        green: str,
        *,
        green_live: bool,
        release_id: str,
        sticky_by: str | None = None,
    ) -> TrafficPlan:
        weight = 100.0 if green_live else 0.0
        return cls(Strategy.BLUE_GREEN, blue, green, weight, 0.0, release_id, sticky_by)

    @classmethod
    def shadow(
        cls,
        baseline: str,
        candidate: str,
        *,
        percent: float,
        release_id: str,
        sticky_by: str | None = None,
    ) -> TrafficPlan:
        return cls(Strategy.SHADOW, baseline, candidate, 0.0, percent, release_id, sticky_by)

    # -- the decision ---------------------------------------------------------------------

    @property
    def versions(self) -> tuple[str, ...]:
        """Every version this plan may send a request to: each needs a warm runtime."""
        if self.candidate is None or self.candidate == self.baseline:
            return (self.baseline,)
        return (self.baseline, self.candidate)

    def route(self, key: str) -> Route:
        """Which version answers the request keyed ``key``, and which shadows it."""
        if self.strategy is Strategy.SINGLE:
            return self._baseline_route
        if self._candidate_cut == 0 and self._shadow_cut == 0:
            return self._baseline_route
        if self._candidate_cut == BUCKETS:
            return self._candidate_route
        bucket = _bucket(self._hasher, key)
        if bucket < self._candidate_cut:
            return self._candidate_route
        if bucket < self._shadow_cut:
            return self._shadowed_route
        return self._baseline_route

    def sticky_key(
        self, fields: Mapping[str, Any], request_id: str, default_field: str | None = None
    ) -> str:
        """The value routing hashes: the plan's ``sticky_by`` field, else ``default_field``
        (the endpoint's entity key), else the request id (not sticky across requests)."""
        name = self.sticky_by or default_field
        if name is not None:
            value = fields.get(name)
            if value is not None:
                return str(value)
        return request_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.value,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "weight": self.weight,
            "shadow_percent": self.shadow_percent,
            "release_id": self.release_id,
            "sticky_by": self.sticky_by,
        }


class EndpointPlan(NamedTuple):
    """A release's say over an endpoint's traffic, as the gateway's config refresh reads it."""

    plan: TrafficPlan
    #: running or paused: the plan holds whatever the endpoint's definition says
    live: bool
    #: when the release last changed; a finished (promoted) release's plan holds only
    #: until the endpoint's definition changes after it
    decided_at: datetime

    def applies(self, endpoint_updated_at: datetime) -> bool:
        return self.live or self.decided_at > endpoint_updated_at

"""Seeded synthetic traffic through a traffic plan, as the gateway would log it.

A :class:`Behaviour` says how a version answers (its error and fallback rates, latency,
score distribution); :func:`serve` routes ``n`` customers through a plan and returns the
prediction log rows, so the judge sees what it would see from a real endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from modelward.monitoring import PredictionRecord
from modelward.rollout import Release, TrafficPlan


@dataclass(frozen=True)
class Behaviour:
    error_rate: float = 0.005
    fallback_rate: float = 0.01
    latency_ms: float = 20.0
    extra_ms: float = 0.0
    #: scores are Beta(2, 5) (most customers unlikely to churn); inverted: 1 - that
    inverted: bool = False
    #: only these plans' scores are inverted (a regression in one segment)
    inverted_plans: tuple[str, ...] = ()
    #: this share of answers is ``tail_ms`` slower (a regression of the tail only)
    tail_share: float = 0.0
    tail_ms: float = 0.0


PLANS = ("basic", "pro", "enterprise")
GOOD = Behaviour()
BAD = {
    "inverted scores": Behaviour(inverted=True),
    "+50 ms": Behaviour(extra_ms=50.0),
    "5% errors": Behaviour(error_rate=0.05),
}


def serve(
    plan: TrafficPlan,
    n: int,
    *,
    seed: int,
    candidate: Behaviour,
    baseline: Behaviour = GOOD,
    start_us: int = 1_000_000,
    endpoint: str = "churn",
) -> list[PredictionRecord]:
    """``n`` requests from distinct customers, one microsecond apart, answered per ``plan``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        route = plan.route(f"customer-{seed}-{i}")
        how = candidate if route.role == "candidate" else baseline
        at, inputs = start_us + i, {"plan": PLANS[i % 3]}
        rows.append(
            _answer(rng, how, route.version, route.role, plan.release_id, at, endpoint, inputs)
        )
        if route.shadow is not None:
            rows.append(
                _answer(
                    rng, candidate, route.shadow, "shadow", plan.release_id, at, endpoint, inputs
                )
            )
    return rows


def _answer(
    rng: np.random.Generator,
    how: Behaviour,
    version: str,
    role: str,
    release: str,
    at_us: int,
    endpoint: str,
    inputs: dict[str, Any],
) -> PredictionRecord:
    model, _, number = version.partition("@")
    latency = float(rng.lognormal(np.log(how.latency_ms), 0.4)) + how.extra_ms
    if how.tail_share and rng.random() < how.tail_share:
        latency += how.tail_ms
    if rng.random() < how.error_rate:
        return PredictionRecord(
            f"r{at_us}", at_us, endpoint, model, number, inputs, None, latency, True,
            role=role, release_id=release, error="ModelUnavailable",
        )  # fmt: skip
    degraded = bool(rng.random() < how.fallback_rate)
    score = float(rng.beta(2, 5))
    flip = how.inverted or inputs.get("plan") in how.inverted_plans
    score = 1.0 - score if flip else score
    return PredictionRecord(
        f"r{at_us}", at_us, endpoint, model, number, inputs, 0.0 if degraded else score,
        latency, degraded, role=role, release_id=release,
    )  # fmt: skip


def mirror(release: Release, n: int, seed: int) -> list[PredictionRecord]:
    """``n`` mirrored requests; the candidate inverts the scores of ``pro`` customers
    (the planted disagreement) and fails every 100th copy."""
    rng = np.random.default_rng(seed)
    start = int(release.created_at.timestamp() * 1_000_000) + 1
    rows = []
    for i in range(n):
        inputs = {"plan": PLANS[i % 3], "tenure": float(rng.integers(0, 60)), "spend": 0.0}
        inputs["spend"] = float(rng.normal(100, 20))
        score = float(rng.beta(2, 5))
        copy = 1.0 - score if inputs["plan"] == "pro" else score + float(rng.normal(0, 0.01))
        at, rid = start + i, f"r{i}"
        common = {"role": "primary", "release_id": release.id}
        rows.append(
            PredictionRecord(rid, at, "churn", "churn", "1", inputs, score, 20.0, False, **common)
        )
        error = "TimeoutError" if i % 100 == 99 else ""
        rows.append(
            PredictionRecord(
                rid,
                at,
                "churn",
                "churn",
                "2",
                inputs,
                None if error else copy,
                35.0,
                bool(error),
                role="shadow",
                release_id=release.id,
                error=error,
            )
        )
    return rows


def serve_release(
    release: Release, n: int, *, seed: int, candidate: Behaviour, start_us: int
) -> list[PredictionRecord]:
    """:func:`serve` through the release's current plan, routed with a fixed salt.

    A release's id is random (``uuid4``) and keys its sticky hash, so routing by the real
    plan would give every test run a different split of customers, and a good candidate
    would be rolled back in about alpha of the runs. Routing with a fixed id and stamping
    the real one on the rows keeps the data, and so the verdict, the same every run."""
    plan = release.plan()
    fixed = replace(plan, release_id="rel-fixed-salt")
    rows = serve(fixed, n, seed=seed, candidate=candidate, start_us=start_us)
    return [row._replace(release_id=release.id) for row in rows]

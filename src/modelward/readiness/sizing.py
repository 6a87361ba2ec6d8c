"""``modelward loadtest --recommend``: the cheapest gateway size that meets the budget.

A few worker counts are each loaded at the target rate (open loop, so the latency is the
latency at that rate, not at saturation); a configuration meets the endpoint when its
load test passes (p99 within the endpoint's latency budget, errors and late requests
within 1%). The cheapest that meets it is recommended, priced per 1,000 predictions with
``serving.cost_per_core_hour`` (one worker process counts as one core).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelward.errors import InputError
from modelward.readiness.loadtest import LoadResult, load_test

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["MAX_WORKERS", "Recommendation", "Trial", "cost_per_1000", "recommend"]

MAX_WORKERS = 16


def cost_per_1000(workers: int, rate: float, cost_per_core_hour: float) -> float:
    """What 1,000 predictions cost on ``workers`` cores busy serving ``rate`` requests/s."""
    return workers * cost_per_core_hour / 3600.0 / rate * 1000.0


@dataclass(frozen=True)
class Trial:
    workers: int
    result: LoadResult
    cost_per_1000: float
    evidence: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "meets_budget": self.result.passed,
            "cost_per_1000": self.cost_per_1000,
            "evidence": self.evidence,
            **self.result.to_dict(),
        }


@dataclass(frozen=True)
class Recommendation:
    endpoint: str
    rate: float
    latency_budget_ms: float
    cost_per_core_hour: float
    trials: list[Trial]

    @property
    def chosen(self) -> Trial | None:
        """The cheapest trial that met the budget (fewest workers), or None."""
        meeting = [t for t in self.trials if t.result.passed]
        return min(meeting, key=lambda t: (t.cost_per_1000, t.workers)) if meeting else None

    def to_dict(self) -> dict[str, Any]:
        chosen = self.chosen
        return {
            "endpoint": self.endpoint,
            "rate": self.rate,
            "latency_budget_ms": self.latency_budget_ms,
            "cost_per_core_hour": self.cost_per_core_hour,
            "recommended_workers": chosen.workers if chosen else None,
            "recommended_cost_per_1000": chosen.cost_per_1000 if chosen else None,
            "trials": [t.to_dict() for t in self.trials],
        }


def recommend(
    session: Session,
    endpoint: str,
    *,
    rate: float,
    worker_counts: Sequence[int] = (1, 2, 4),
    concurrency: int = 32,
    duration_s: float = 5.0,
    version: str | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> Recommendation:
    """Load ``endpoint`` at ``rate`` on each of ``worker_counts``; every trial is recorded."""
    counts = sorted(set(worker_counts))
    if not counts or counts[0] < 1 or counts[-1] > MAX_WORKERS:
        raise InputError(f"workers: between 1 and {MAX_WORKERS} each", field="workers")
    price = session.workspace.settings.serving.cost_per_core_hour
    trials = []
    for workers in counts:
        result, evidence = load_test(
            session,
            endpoint,
            concurrency=concurrency,
            duration_s=duration_s,
            version=version,
            rate=rate,
            workers=workers,
        )
        trial = Trial(
            workers,
            result,
            cost_per_1000(workers, rate, price),
            evidence.pointer if evidence else None,
        )
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
    budget = trials[0].result.latency_budget_ms
    return Recommendation(endpoint, rate, budget, price, trials)

"""Helpers for the monitoring tests: logged churn-like predictions with a planted shift."""

from __future__ import annotations

import numpy as np

from modelward.monitoring import PredictionRecord

#: 2026-01-01T00:00:00Z in microseconds
T0_US = 1_767_225_600_000_000
PLANS = ["basic", "pro", "enterprise"]


def training_rows(n: int, seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    return {
        "monthly_spend": rng.normal(80.0, 20.0, n),
        "support_tickets": rng.poisson(2.0, n).astype(float),
        "plan": np.array(rng.choice(PLANS, n, p=[0.5, 0.3, 0.2]), dtype=object),
    }


def logged(
    n: int,
    *,
    seed: int = 1,
    version: str = "1",
    spend_shift: float = 0.0,
    start_us: int = T0_US,
    endpoint: str = "churn",
) -> list[PredictionRecord]:
    """``n`` records one second apart; ``spend_shift`` moves spend by that many sd."""
    rng = np.random.default_rng(seed)
    rows = training_rows(n, seed)
    spend = rows["monthly_spend"] + spend_shift * 20.0  # type: ignore[operator]
    scores = rng.beta(2, 5, n)
    return [
        PredictionRecord(
            request_id=f"{endpoint}-{version}-{seed}-{i}",
            at_us=start_us + i * 1_000_000,
            endpoint=endpoint,
            model="churn",
            model_version=version,
            inputs={
                "monthly_spend": float(spend[i]),
                "support_tickets": int(rows["support_tickets"][i]),  # type: ignore[index]
                "plan": str(rows["plan"][i]),  # type: ignore[index]
            },
            prediction=float(scores[i]),
            latency_ms=2.0 + (i % 10),
            degraded=False,
        )
        for i in range(n)
    ]

"""Answers about releases and their shadow reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ReleaseOut(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "id": "rel_01",
                    "endpoint": "churn",
                    "seq": 4,
                    "strategy": "canary",
                    "baseline": "churn@2",
                    "candidate": "churn@3",
                    "state": "running",
                    "step": 1,
                    "weight": 10.0,
                    "steps": [10.0, 50.0, 100.0],
                    "version": 3,
                    "step_started_at": "2026-12-01T09:30:00Z",
                    "held_since": None,
                    "last_analysis": None,
                    "lease_owner": None,
                    "lease_until": None,
                    "policy": {"steps": [10, 50, 100]},
                    "plan": {"candidate_weight": 10.0},
                    "created_by": "olga",
                    "created_at": "2026-12-01T09:30:00Z",
                    "updated_by": "olga",
                    "updated_at": "2026-12-01T09:30:00Z",
                }
            ]
        },
    )

    id: str
    endpoint: str
    seq: int
    strategy: str
    baseline: str
    candidate: str
    state: str
    step: int
    weight: float = Field(description="Percent of answers the candidate gives now.")
    steps: list[float]
    version: int = Field(description="Bumped by every change; pass it as expected_version.")
    step_started_at: datetime
    held_since: datetime | None
    last_analysis: dict[str, Any] | None
    lease_owner: str | None
    lease_until: datetime | None
    policy: dict[str, Any]
    plan: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class ShadowReportOut(BaseModel):
    """Where a shadow candidate decides differently from the baseline (docs/rollout.md)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "endpoint": "churn",
                    "release": "rel-3f9c1a2b4d5e",
                    "baseline": "churn@2",
                    "candidate": "churn@3",
                    "threshold": 0.5,
                    "pairs": 2000,
                    "disagreements": 140,
                    "disagreement_rate": 0.07,
                    "mean_abs_diff": 0.04,
                    "shadow_failed": 0,
                    "unpaired": 3,
                    "latency_ms": {"baseline": {"p50": 2.1}, "candidate": {"p50": 2.4}},
                    "worst_cohort": {"segment": "plan", "value": "pro", "rate": 0.31},
                    "segments": {"plan": [{"value": "pro", "pairs": 400, "rate": 0.31}]},
                    "ranges": {},
                    "top_features": [{"feature": "monthly_spend", "effect": 0.42}],
                    "examples": [],
                }
            ]
        },
    )

    endpoint: str
    release: str
    baseline: str
    candidate: str
    threshold: float
    pairs: int = Field(description="Mirrored requests with both answers.")
    disagreements: int
    disagreement_rate: float | None
    mean_abs_diff: float | None
    shadow_failed: int = Field(description="Copies the candidate failed on.")
    unpaired: int
    latency_ms: dict[str, dict[str, float | None]]
    worst_cohort: dict[str, Any] | None
    segments: dict[str, list[dict[str, Any]]]
    ranges: dict[str, list[dict[str, Any]]]
    top_features: list[dict[str, Any]]
    examples: list[dict[str, Any]]

"""Answers about retraining policies, their episodes and kill switches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RetrainCheck(BaseModel):
    name: str
    passed: bool
    detail: str


class RetrainEpisodeOut(BaseModel):
    """One retraining decision: its trigger, checks, evidence, run, candidate and release."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "id": "3f9c1a2b4d5e6f708192a3b4c5d6e7f8",
                    "policy": "churn-monthly",
                    "key": "performance:churn@3",
                    "kind": "performance",
                    "decision": "retrain",
                    "state": "releasing",
                    "reason": "churn@4 in a shadow release on churn",
                    "checks": [{"name": "labels", "passed": True, "detail": "coverage 62%"}],
                    "evidence": {"trigger": {"kind": "performance"}},
                    "window_start": "2026-09-03T03:00:00+00:00",
                    "window_end": "2026-12-02T03:00:00+00:00",
                    "run_id": "9a8b7c6d5e4f",
                    "candidate": "churn@4",
                    "release_id": "rel-0a1b2c3d4e5f",
                    "stage": 0,
                    "cpu_s": 41.5,
                    "linked": 2,
                    "created_by": "retraining",
                    "created_at": "2026-12-02T03:00:00+00:00",
                    "updated_at": "2026-12-02T03:04:10+00:00",
                    "closed_at": None,
                    "was_linked": False,
                }
            ]
        },
    )

    id: str
    policy: str
    key: str
    kind: str
    decision: str = Field(description="retrain, recalibrate, wait or block")
    state: str
    reason: str
    checks: list[RetrainCheck]
    evidence: dict[str, Any]
    window_start: datetime | None
    window_end: datetime | None
    run_id: str | None
    candidate: str | None
    release_id: str | None
    stage: int = Field(description="Which of the policy's strategies the release is at.")
    cpu_s: float
    linked: int = Field(description="Identical triggers joined to this episode.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    was_linked: bool = Field(
        default=False, description="This trigger joined an episode already there."
    )


class RetrainPolicyOut(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "name": "churn-monthly",
                    "endpoint": "churn",
                    "model": "churn",
                    "pipeline": "churn",
                    "window_days": 90.0,
                    "strategies": ["shadow", "canary"],
                    "enabled": True,
                    "definition": {"triggers": {"max_auc_drop": 0.03}},
                }
            ]
        },
    )

    name: str
    endpoint: str
    model: str
    pipeline: str
    window_days: float
    strategies: list[str]
    enabled: bool = Field(description="Its switch and the every-policy switch are on.")
    definition: dict[str, Any] = Field(description="The whole policy, as modelward.toml has it.")


class RetrainSwitchOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"scope": "*", "enabled": False, "reason": "INC-7"}]}
    )

    scope: str = Field(description="A policy's name, or * for every policy.")
    enabled: bool
    reason: str

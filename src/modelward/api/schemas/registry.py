"""Answers about models, versions, lineage, stage transitions and approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelward.api.schemas.common import _Out


class ModelSummary(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "name": "churn",
                    "production_version": 3,
                    "previous_production_version": 2,
                    "approval_policy": {"Production": 1},
                    "gate_policy": {"Production": [{"type": "lineage_complete"}]},
                    "created_by": "dora",
                    "created_at": "2026-12-01T09:30:00Z",
                }
            ]
        },
    )

    name: str
    production_version: int | None
    previous_production_version: int | None
    approval_policy: dict[str, int] = Field(description="Approvals required per stage.")
    gate_policy: dict[str, list[dict[str, Any]]] = Field(description="Gates per stage.")
    created_by: str
    created_at: datetime


class ModelVersion(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "model": "churn",
                    "version": 3,
                    "ref": "churn@3",
                    "stage": "Production",
                    "source": "modelward",
                    "run_id": "5f2c0d9e",
                    "model_uri": "models:/churn/3",
                    "lineage_complete": True,
                    "lineage_missing": [],
                    "created_by": "dora",
                    "created_at": "2026-12-01T09:30:00Z",
                    "stage_changed_at": "2026-12-01T09:30:00Z",
                    "lineage": {"git": {"commit": "9b1e2f0", "dirty": False}},
                }
            ]
        },
    )

    model: str
    version: int
    ref: str = Field(examples=["churn@3"])
    stage: str = Field(description="None, Staging, Production or Archived")
    source: str = Field(description="modelward (registered with lineage) or mlflow (found)")
    run_id: str | None
    model_uri: str
    lineage_complete: bool
    lineage_missing: list[str]
    created_by: str
    created_at: datetime
    stage_changed_at: datetime | None
    lineage: dict[str, Any]


class LineageReport(BaseModel):
    """Every question of the lineage list for one version (further keys may follow)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "ref": "churn@3",
                    "stage": "Production",
                    "source": "modelward",
                    "lineage_complete": True,
                    "lineage_missing": [],
                    "datasets": [{"snapshot_id": "snap_7c1d", "content_hash": "sha256:9f2b"}],
                }
            ]
        },
    )

    ref: str
    stage: str
    source: str
    lineage_complete: bool
    lineage_missing: list[str]


class LineageChange(_Out):
    path: str = Field(examples=["params.max_depth"])
    old: Any = None
    new: Any = None


class LineageDiff(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "old": "churn@2",
                    "new": "churn@3",
                    "changes": [{"path": "params.max_depth", "old": 4, "new": 6}],
                }
            ]
        },
    )

    old: str
    new: str
    changes: list[LineageChange]


class Transition(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "model": "churn",
                    "version": 3,
                    "from_stage": "Staging",
                    "to_stage": "Production",
                    "kind": "promote",
                    "actor": "dora",
                    "at": "2026-12-01T09:30:00Z",
                    "reason": "beats v2 on auc",
                    "gate_results": [{"gate": "lineage_complete", "passed": True}],
                    "approvals": [{"approver": "alice"}],
                    "override_reason": None,
                    "demoted": 2,
                    "mirrored": True,
                }
            ]
        },
    )

    model: str
    version: int
    from_stage: str
    to_stage: str
    kind: str
    actor: str
    at: datetime
    reason: str
    gate_results: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    override_reason: str | None
    demoted: int | None
    mirrored: bool


class TransitionRecord(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "model_name": "churn",
                    "version": 3,
                    "from_stage": "Staging",
                    "to_stage": "Production",
                    "kind": "promote",
                    "actor": "dora",
                    "at": "2026-12-01T09:30:00Z",
                    "reason": "beats v2 on auc",
                    "gate_results": [],
                    "approvals": [],
                    "override_reason": None,
                }
            ]
        },
    )

    id: int
    model_name: str
    version: int
    from_stage: str
    to_stage: str
    kind: str
    actor: str
    at: datetime
    reason: str
    gate_results: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    override_reason: str | None


class Approval(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "model": "churn",
                    "version": 3,
                    "stage": "Production",
                    "approver": "alice",
                    "at": "2026-12-01T09:30:00Z",
                    "comment": "lineage and metrics reviewed",
                }
            ]
        },
    )

    model: str
    version: int
    stage: str
    approver: str
    at: datetime
    comment: str

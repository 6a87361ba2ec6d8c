"""The REST API's response bodies, typed, so the OpenAPI document says what each route sends.

Each model mirrors the ``to_dict()`` of the context object it renders (the route returns
that dict, FastAPI checks it against the model). Errors are :class:`Problem`, sent as
``application/problem+json`` (RFC 9457) by :mod:`modelward.serving.http_problems`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PROBLEM_EXAMPLE",
    "AlertOut",
    "Approval",
    "AuditEntry",
    "ChainReport",
    "Endpoint",
    "FieldError",
    "LabelsOut",
    "LineageChange",
    "LineageDiff",
    "LineageReport",
    "ModelSummary",
    "ModelVersion",
    "Problem",
    "ReleaseOut",
    "Snapshot",
    "Transition",
    "TransitionRecord",
    "WhoAmI",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FieldError(BaseModel):
    field: str = Field(description="Where: `body.reason`, `path.version`, `query.limit`.")
    rule: str = Field(description="The rule the value broke.")


class Problem(BaseModel):
    """An error (RFC 9457). ``error`` names the modelward error class; ``errors`` lists each
    invalid field of a 422; an error's structured evidence (``field``, ``gate_results``, ...)
    follows as further top-level members."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    error: str | None = None
    errors: list[FieldError] | None = None


PROBLEM_EXAMPLE = {
    "type": "about:blank",
    "title": "unauthenticated",
    "status": 401,
    "detail": "an API token is required (Authorization: Bearer <token>)",
    "error": "Unauthenticated",
}


class WhoAmI(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"name": "alice", "role": "approver", "kind": "user"}]},
    )

    name: str
    role: str = Field(description="viewer, developer, approver, operator or admin")
    kind: str = Field(description="user or service")


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


class AuditEntry(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "seq": 42,
                    "at": "2026-12-01T09:30:00Z",
                    "actor": "dora",
                    "action": "model.promote",
                    "target": "model:churn@3",
                    "payload": {"reason": "beats v2 on auc"},
                    "note": None,
                    "prev_hash": "5d41402a",
                    "hash": "7d793037",
                }
            ]
        },
    )

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    payload: dict[str, Any]
    note: str | None = None
    prev_hash: str
    hash: str


class ChainReport(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "checked": 42,
                    "first_bad_seq": None,
                    "reason": "",
                    "keyed": 42,
                    "key_configured": True,
                }
            ]
        },
    )

    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str
    keyed: int = Field(description="Entries carrying the HMAC of the workspace's audit key.")
    key_configured: bool


class Snapshot(_Out):
    """A dataset snapshot's record (its storage location on the server is not shown)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "id": "snap_7c1d",
                    "ref": "customers@2",
                    "name": "customers",
                    "version": 2,
                    "content_hash": "sha256:9f2b",
                    "schema": [{"name": "tenure", "type": "double"}],
                    "row_count": 7043,
                    "byte_size": 391204,
                    "source": "data/customers.parquet",
                    "source_kind": "parquet",
                    "created_by": "dora",
                    "created_at": "2026-12-01T09:30:00Z",
                    "contract": None,
                    "contract_hash": None,
                    "validation": None,
                    "validation_passed": None,
                    "override_reason": None,
                }
            ]
        },
    )

    id: str
    ref: str = Field(examples=["customers@2"])
    name: str
    version: int
    content_hash: str
    schema_: list[dict[str, Any]] = Field(alias="schema", serialization_alias="schema")
    row_count: int
    byte_size: int
    source: str
    source_kind: str
    created_by: str
    created_at: datetime
    contract: dict[str, Any] | None
    contract_hash: str | None
    validation: dict[str, Any] | None
    validation_passed: bool | None
    override_reason: str | None


class Endpoint(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "name": "churn",
                    "config_version": 2,
                    "spec": {
                        "name": "churn",
                        "model": "churn@production",
                        "request": {"tenure": "float"},
                    },
                    "created_by": "dora",
                    "created_at": "2026-12-01T09:30:00Z",
                    "updated_by": "dora",
                    "updated_at": "2026-12-01T09:30:00Z",
                }
            ]
        },
    )

    name: str
    config_version: int
    spec: dict[str, Any] | None = Field(
        description="The definition, as in the CLI's file; null when the stored one is invalid."
    )
    problem: str | None = Field(
        default=None,
        description="Why the stored definition is invalid (it is then not served); "
        "absent for a valid one.",
    )
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


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


class AlertOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "endpoint": "churn",
                    "key": "model_drift:3",
                    "state": "firing",
                    "fired_at": "2026-12-02T10:00:00Z",
                    "last_sent_at": "2026-12-02T10:00:00Z",
                    "message": "monthly_spend drifts and AUC fell 0.04 below the reference",
                    "acknowledged_by": "olga",
                    "acknowledged_at": "2026-12-02T10:05:00Z",
                    "acknowledge_note": "looking at the spend feed",
                }
            ]
        }
    )

    endpoint: str
    key: str = Field(description="`<rule kind>:<version>`, as monitor runs name it.")
    state: str = Field(description="`firing` or `resolved`.")
    fired_at: datetime
    last_sent_at: datetime = Field(description="The last notification sent for it.")
    message: str
    acknowledged_by: str | None = Field(default=None, description="Who is on it, if anyone.")
    acknowledged_at: datetime | None = None
    acknowledge_note: str | None = None


class LabelsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"received": 3, "stored": 2, "updated": 0, "duplicates": 1, "unknown": 0}]
        }
    )

    received: int
    stored: int = Field(description="New labels written.")
    updated: int = Field(description="Labels whose value changed (corrections).")
    duplicates: int = Field(description="Labels already stored with the same value.")
    unknown: int = Field(description="Request ids the prediction log does not hold (kept).")


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

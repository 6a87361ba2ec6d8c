"""The REST API's response bodies, typed, so the OpenAPI document says what each route sends.

Each model mirrors the ``to_dict()`` of the context object it renders (the route returns
that dict, FastAPI checks it against the model). Errors are :class:`Problem`, sent as
``application/problem+json`` (RFC 9457) by :mod:`modelward.api.problems`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PROBLEM_EXAMPLE",
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
    name: str
    role: str = Field(description="viewer, developer, approver, operator or admin")
    kind: str = Field(description="user or service")


class ModelSummary(_Out):
    name: str
    production_version: int | None
    previous_production_version: int | None
    approval_policy: dict[str, int] = Field(description="Approvals required per stage.")
    gate_policy: dict[str, list[dict[str, Any]]] = Field(description="Gates per stage.")
    created_by: str
    created_at: datetime


class ModelVersion(_Out):
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

    model_config = ConfigDict(extra="allow")

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
    old: str
    new: str
    changes: list[LineageChange]


class Transition(_Out):
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
    model: str
    version: int
    stage: str
    approver: str
    at: datetime
    comment: str


class AuditEntry(_Out):
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
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str
    keyed: int = Field(description="Entries carrying the HMAC of the workspace's audit key.")
    key_configured: bool


class Snapshot(_Out):
    """A dataset snapshot's record (its storage location on the server is not shown)."""

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
    model_config = ConfigDict(extra="ignore")

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


class LabelsOut(BaseModel):
    received: int
    stored: int = Field(description="New labels written.")
    updated: int = Field(description="Labels whose value changed (corrections).")
    duplicates: int = Field(description="Labels already stored with the same value.")
    unknown: int = Field(description="Request ids the prediction log does not hold (kept).")

"""Answers about data snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from modelward.api.schemas.common import _Out


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

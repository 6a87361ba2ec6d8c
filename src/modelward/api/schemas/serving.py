"""Answers about endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from modelward.api.schemas.common import _Out


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

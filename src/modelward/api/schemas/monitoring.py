"""Answers about alerts and label ingestion."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


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

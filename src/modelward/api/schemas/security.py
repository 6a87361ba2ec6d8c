"""Answers about the audit log and its hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from modelward.api.schemas.common import _Out


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

"""The REST API's response bodies, typed, so the OpenAPI document says what each route sends.

Each model mirrors the ``to_dict()`` of the context object it renders (the route returns
that dict, FastAPI checks it against the model). Errors are :class:`Problem`, sent as
``application/problem+json`` (RFC 9457) by :mod:`modelward.serving.http_problems`.
"""

from __future__ import annotations

from modelward.api.schemas.common import PROBLEM_EXAMPLE, FieldError, Problem, WhoAmI
from modelward.api.schemas.data import Snapshot
from modelward.api.schemas.monitoring import AlertOut, LabelsOut
from modelward.api.schemas.registry import (
    Approval,
    LineageChange,
    LineageDiff,
    LineageReport,
    ModelSummary,
    ModelVersion,
    Transition,
    TransitionRecord,
)
from modelward.api.schemas.retraining import (
    RetrainCheck,
    RetrainEpisodeOut,
    RetrainPolicyOut,
    RetrainSwitchOut,
)
from modelward.api.schemas.rollout import ReleaseOut, ShadowReportOut
from modelward.api.schemas.security import AuditEntry, ChainReport
from modelward.api.schemas.serving import Endpoint

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
    "RetrainCheck",
    "RetrainEpisodeOut",
    "RetrainPolicyOut",
    "RetrainSwitchOut",
    "ShadowReportOut",
    "Snapshot",
    "Transition",
    "TransitionRecord",
    "WhoAmI",
]

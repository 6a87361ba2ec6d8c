"""``/api/v1/labels``: delayed ground truth for logged predictions, joined by request id.

The same function as ``modelward labels ingest`` (:func:`modelward.monitoring.ingest_labels`):
a label sent again is a duplicate (nothing written), a changed value a correction, and an
id the prediction log does not hold is kept and counted as ``unknown``, not refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.deps import CurrentSession, known_query_only, requires
from modelward.api.schemas import LabelsOut
from modelward.security import Permission, Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/labels", tags=["monitoring"], dependencies=[Depends(known_query_only)]
)

LabelWriter = Annotated[Principal, Depends(requires(Permission.LABELS_WRITE))]


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=200, description="As the gateway answered it.")
    label: bool | int | float | str = Field(description="The ground truth: 0/1, a number, a class.")
    # text, parsed by the domain function (the CLI's rule, field named the same): a number
    # would otherwise be taken for seconds since the epoch
    labelled_at: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        json_schema_extra={"format": "date-time"},
        description="When the truth became known, ISO 8601 with a time zone (default: now).",
    )


class LabelsIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "endpoint": "churn",
                    "labels": [{"request_id": "3f9a1c2b7d01", "label": 1}],
                }
            ]
        },
    )

    endpoint: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    # a batch that fits well under the body limit ([server] max_body_bytes), so an oversized
    # batch is refused by count (422) rather than by size (413)
    labels: list[LabelIn] = Field(min_length=1, max_length=5_000)


@router.post("", response_model=LabelsOut)
def post_labels(body: LabelsIn, session: CurrentSession, who: LabelWriter) -> dict[str, Any]:
    from modelward.monitoring import ingest_labels

    rows = [label.model_dump() for label in body.labels]
    return ingest_labels(session, who, body.endpoint, rows).to_dict()

"""``/api/v1/alerts``: every alert's state, and acknowledging a firing one.

The same functions as ``modelward monitor alerts`` and ``modelward monitor ack``
(:func:`modelward.monitoring.list_alerts`, :func:`modelward.monitoring.acknowledge_alert`):
an acknowledged alert sends no reminder until it resolves; the change is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.deps import CurrentSession, known_query_only, requires
from modelward.api.schemas import AlertOut
from modelward.security import Permission, Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/alerts", tags=["monitoring"], dependencies=[Depends(known_query_only)]
)

Reader = Annotated[Principal, Depends(requires(Permission.ENDPOINTS_READ))]
Acknowledger = Annotated[Principal, Depends(requires(Permission.ALERTS_ACKNOWLEDGE))]
EndpointName = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
# "<kind>:<version>" or "rule:<name>:<version>"
AlertKey = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "looking at the spend feed"}]}
    )

    note: str = Field(default="", max_length=2000, description="What is being done about it.")


@router.get("", response_model=list[AlertOut])
def get_alerts(
    session: CurrentSession,
    who: Reader,
    endpoint: Annotated[
        str | None, Query(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    ] = None,
) -> list[dict[str, Any]]:
    from modelward.monitoring import list_alerts

    return list_alerts(session, endpoint)


@router.post("/{endpoint}/{key}/acknowledge", response_model=AlertOut)
def acknowledge(
    endpoint: EndpointName,
    key: AlertKey,
    body: AcknowledgeIn,
    session: CurrentSession,
    who: Acknowledger,
) -> dict[str, Any]:
    from modelward.monitoring import acknowledge_alert

    return acknowledge_alert(session, who, endpoint, key, note=body.note)

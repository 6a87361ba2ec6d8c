"""``/api/v1/endpoints``: the online endpoints the gateway serves (read, create, update).

Definitions are validated by :func:`modelward.serving.endpoints.parse_spec`, the same
function the CLI uses, so a bad field is named the same way in both; every change is
audited and bumps the endpoint's ``config_version``, which running gateways pick up.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import Field

from modelward.api.deps import CurrentSession, requires
from modelward.errors import InputError
from modelward.security import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/endpoints", tags=["endpoints"])

EndpointReader = Annotated[Principal, Depends(requires(Permission.ENDPOINTS_READ))]
EndpointWriter = Annotated[Principal, Depends(requires(Permission.ENDPOINTS_WRITE))]
Name = Annotated[str, Field(max_length=128)]
Spec = Annotated[dict[str, Any], Body(description="The endpoint definition, as in the CLI's file.")]


@router.get("")
def list_endpoints(session: CurrentSession, _: EndpointReader) -> list[dict[str, Any]]:
    from modelward import serving

    return [e.to_dict() for e in serving.list_endpoints(session)]


@router.get("/{name}")
def get_endpoint(name: Name, session: CurrentSession, _: EndpointReader) -> dict[str, Any]:
    from modelward import serving

    return serving.get_endpoint(session, name).to_dict()


@router.post("", status_code=201)
def create_endpoint(spec: Spec, session: CurrentSession, who: EndpointWriter) -> dict[str, Any]:
    from modelward import serving

    return serving.create_endpoint(session, who, serving.parse_spec(spec)).to_dict()


@router.put("/{name}")
def update_endpoint(
    name: Name,
    spec: Spec,
    session: CurrentSession,
    who: EndpointWriter,
    expected_version: Annotated[
        int | None, Query(ge=1, description="Refuse the change if the config moved on.")
    ] = None,
) -> dict[str, Any]:
    from modelward import serving

    parsed = serving.parse_spec(spec)
    if parsed.name != name:
        raise InputError(
            f"endpoint name in the path ({name!r}) and in the body ({parsed.name!r}) differ",
            field="name",
        )
    return serving.update_endpoint(
        session, who, parsed, expected_version=expected_version
    ).to_dict()

"""``/api/v1/endpoints``: the endpoints the gateway serves (read, create, update, delete).

Definitions are validated by :func:`modelward.serving.endpoints.parse_spec`, the same
function the CLI uses, so a bad field is named the same way in both; every change is
audited and bumps the endpoint's ``config_version``, which running gateways pick up.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query

from modelward.api import schemas
from modelward.api.deps import CurrentSession, known_query_only, requires
from modelward.errors import InputError
from modelward.security import Permission, Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/endpoints", tags=["endpoints"], dependencies=[Depends(known_query_only)]
)

EndpointReader = Annotated[Principal, Depends(requires(Permission.ENDPOINTS_READ))]
EndpointWriter = Annotated[Principal, Depends(requires(Permission.ENDPOINTS_WRITE))]
Name = Annotated[str, Path(min_length=1, max_length=128)]
Spec = Annotated[dict[str, Any], Body(description="The endpoint definition, as in the CLI's file.")]
ExpectedVersion = Annotated[
    int | None,
    Query(ge=1, le=2**63 - 1, description="Refuse the change if the config moved on."),
]


@router.get("", response_model=list[schemas.Endpoint])
def list_endpoints(session: CurrentSession, _: EndpointReader) -> list[dict[str, Any]]:
    from modelward import serving

    return [e.to_dict() for e in serving.list_endpoints(session)]


@router.get("/{name}", response_model=schemas.Endpoint)
def get_endpoint(name: Name, session: CurrentSession, _: EndpointReader) -> dict[str, Any]:
    from modelward import serving

    return serving.get_endpoint(session, name).to_dict()


@router.post("", status_code=201, response_model=schemas.Endpoint)
def create_endpoint(spec: Spec, session: CurrentSession, who: EndpointWriter) -> dict[str, Any]:
    from modelward import serving

    return serving.create_endpoint(session, who, serving.parse_spec(spec)).to_dict()


@router.put("/{name}", response_model=schemas.Endpoint)
def update_endpoint(
    name: Name,
    spec: Spec,
    session: CurrentSession,
    who: EndpointWriter,
    expected_version: ExpectedVersion = None,
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


@router.delete("/{name}", response_model=schemas.Endpoint)
def delete_endpoint(
    name: Name,
    session: CurrentSession,
    who: EndpointWriter,
    expected_version: ExpectedVersion = None,
) -> dict[str, Any]:
    """Remove the endpoint (audited); gateways stop serving it at their next refresh.
    The answer is the definition that was removed."""
    from modelward import serving

    return serving.delete_endpoint(session, who, name, expected_version=expected_version).to_dict()

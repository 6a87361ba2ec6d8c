"""Endpoint definitions in the metadata store (SQLite and Postgres): audited, versioned."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.errors import Conflict, InputError, NotFound, PermissionDenied
from modelward.security import entries
from modelward.security.roles import Principal, Role
from modelward.serving import (
    EndpointSpec,
    create_endpoint,
    get_endpoint,
    list_endpoints,
    parse_spec,
    update_endpoint,
)
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, placeholder_version

pytestmark = MLFLOW_WARNINGS

DEV = Principal("dana", Role.DEVELOPER)
VIEWER = Principal("vic", Role.VIEWER)


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        placeholder_version(s, "churn")  # definitions must name a registered model
        yield s


def churn(**changes: object) -> EndpointSpec:
    base: dict[str, object] = {
        "name": "churn",
        "model": "churn@production",
        "request": {"customer_id": "int", "email": "string", "discount": "float"},
        "entity_keys": ["customer_id"],
        "features": ["customer_stats"],
        "pii_fields": ["email"],
        "fallback": {"response": 0.0},
    }
    return parse_spec({**base, **changes})


def test_create_update_and_read_are_versioned_and_audited(session: Session) -> None:
    created = create_endpoint(session, DEV, churn())
    assert created.config_version == 1
    updated = update_endpoint(session, DEV, churn(latency_budget_ms=20), expected_version=1)
    assert updated.config_version == 2
    got = get_endpoint(session, "churn")
    assert got.config_version == 2 and got.spec.latency_budget_ms == 20
    assert [e.name for e in list_endpoints(session)] == ["churn"]
    with session.store.read() as conn:
        trail = list(entries(conn, target="endpoint:churn"))
    assert [(e.action, e.actor) for e in trail] == [
        ("endpoint.created", "dana"),
        ("endpoint.updated", "dana"),
    ]
    assert trail[1].payload["changed"] == ["latency_budget_ms"]


def test_refusals_name_the_rule(session: Session) -> None:
    with pytest.raises(PermissionDenied, match="endpoints:write"):
        create_endpoint(session, VIEWER, churn())
    create_endpoint(session, DEV, churn())
    with pytest.raises(Conflict, match="already exists"):
        create_endpoint(session, DEV, churn())
    with pytest.raises(Conflict, match="config version 1, not 7"):
        update_endpoint(session, DEV, churn(), expected_version=7)
    with pytest.raises(NotFound, match="'other' does not exist"):
        get_endpoint(session, "other")
    with session.store.read() as conn:
        assert len(list(entries(conn, target="endpoint:churn"))) == 1  # refusals changed nothing


def test_invalid_definitions_name_each_field() -> None:
    with pytest.raises(InputError) as info:
        parse_spec(
            {
                "name": "bad name",
                "model": "churn",
                "request": {"x": "decimal"},
                "latency_budget_ms": -1,
            }
        )
    message = info.value.message
    assert "request.x: Input should be 'float', 'int', 'bool' or 'string'" in message
    assert "latency_budget_ms: Input should be greater than 0" in message
    with pytest.raises(InputError, match="pii_fields: email not among the request fields"):
        parse_spec(
            {"name": "a", "model": "m@1", "request": {"x": "float"}, "pii_fields": ["email"]}
        )
    with pytest.raises(InputError, match="give exactly one of model"):
        parse_spec({"name": "a", "model": "m@1", "request": {"x": "float"}, "fallback": {}})

"""Every API route authenticates and checks a role; bad tokens and roles are refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update

from modelward.api import create_app
from modelward.api.deps import PERMISSION_ATTR
from modelward.config import Workspace
from modelward.security import tokens
from modelward.security.roles import Principal, Role
from modelward.security.tables import api_tokens
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, admin, principal

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


@pytest.fixture
def app(session: Session) -> FastAPI:
    return create_app(session)


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _token(session: Session, who: Principal, **kw: timedelta) -> tuple[str, str]:
    info, secret = tokens.issue_token(session, admin(session), who.name, "test", **kw)
    return info.id, secret


def _permissions(dependant: Dependant) -> list[object]:
    found = []
    for dep in dependant.dependencies:
        if dep.call is not None and hasattr(dep.call, PERMISSION_ATTR):
            found.append(getattr(dep.call, PERMISSION_ATTR))
        found.extend(_permissions(dep))
    return found


def _api_routes(app: FastAPI) -> list[APIRoute]:
    """Every APIRoute, also inside included routers and mounts (FastAPI nests them)."""
    found: list[APIRoute] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif hasattr(route, "routes"):
                walk(route.routes)

    walk(list(app.routes))
    return found


def _openapi_operations(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    }


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0) == "{version}" else "churn", path)


SCRAPE_TARGETS = {"/api/v1/metrics"}
DOC_PAGES = {"/docs", "/docs/oauth2-redirect", "/redoc"}


def test_every_route_declares_a_permission_check(app: FastAPI) -> None:
    routes = _api_routes(app)
    # outside the schema: the documentation pages (no token) and the Prometheus scrape
    # target, which is no API operation but still checks a token and a role
    assert {r.path for r in routes if not r.include_in_schema} == DOC_PAGES | SCRAPE_TARGETS
    for route in routes:
        if route.path in SCRAPE_TARGETS:
            assert _permissions(route.dependant), f"{route.path} has no auth"
    routes = [r for r in routes if r.include_in_schema]
    assert len(routes) >= 14
    # the walk saw every operation the app serves (nothing hides from this test)
    assert {(m, r.path) for r in routes for m in r.methods} == _openapi_operations(app)
    for route in routes:
        assert route.path.startswith("/api/v1/"), f"{route.path} is outside /api/v1"
        assert _permissions(route.dependant), f"{sorted(route.methods)} {route.path} has no auth"


def test_every_route_answers_401_problem_json_without_a_token(
    app: FastAPI, http: TestClient
) -> None:
    for method, path in sorted(_openapi_operations(app)):
        response = http.request(method, _concrete(path), json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_expired_and_revoked_tokens_are_401(session: Session, http: TestClient) -> None:
    viewer = principal(session, "vera", Role.VIEWER)
    token_id, secret = _token(session, viewer)
    ok = http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200 and ok.json() == {"name": "vera", "role": "viewer", "kind": "user"}
    for bad in ("nonsense", secret[:-2] + "xx", "mwt_ffffffffffff_" + "a" * 43, ""):
        r = http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad
    with session.store.transaction() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    r = http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]

    token_id, secret = _token(session, viewer)
    tokens.revoke_token(session, viewer, token_id)  # anyone may revoke their own token
    r = http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_tokens_are_stored_only_as_hashes(session: Session) -> None:
    viewer = principal(session, "vera", Role.VIEWER)
    _, secret = _token(session, viewer, expires_in=timedelta(days=1))
    with session.store.read() as conn:
        rows = conn.execute(api_tokens.select()).all()
    dumped = repr([tuple(r) for r in rows])
    assert secret.split("_", 2)[2] not in dumped
    assert all(len(r.secret_hash) == 64 for r in rows)


def test_viewer_cannot_promote_and_developer_cannot_approve(
    session: Session, http: TestClient
) -> None:
    _, viewer = _token(session, principal(session, "vera", Role.VIEWER))
    _, dev = _token(session, principal(session, "dora", Role.DEVELOPER))
    r = http.post(
        "/api/v1/models/churn/versions/1/transitions",
        json={"to_stage": "Production", "reason": "x"},
        headers={"Authorization": f"Bearer {viewer}"},
    )
    assert r.status_code == 403 and "models:transition" in r.json()["detail"]
    assert r.headers["content-type"] == "application/problem+json"
    r = http.post(
        "/api/v1/models/churn/versions/1/approvals",
        json={"stage": "Production"},
        headers={"Authorization": f"Bearer {dev}"},
    )
    assert r.status_code == 403 and "models:approve" in r.json()["detail"]


def test_bad_names_and_bodies_are_422_naming_the_field(session: Session, http: TestClient) -> None:
    _, viewer = _token(session, principal(session, "vera", Role.VIEWER))
    auth = {"Authorization": f"Bearer {viewer}"}
    r = http.get(f"/api/v1/models/{'x' * 10_000}/versions/1", headers=auth)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["path.name"]
    r = http.get("/api/v1/models/..%2F..%2Fetc/versions/1", headers=auth)
    assert r.status_code in (404, 422)
    _, dev = _token(session, principal(session, "dora", Role.DEVELOPER))
    r = http.post(
        "/api/v1/models/churn/versions/1/transitions",
        json={"to_stage": "Prod", "reason": ""},
        headers={"Authorization": f"Bearer {dev}"},
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"body.to_stage", "body.reason"}
    r = http.post(
        "/api/v1/models/ghost/versions/1/transitions",
        json={"to_stage": "Staging", "reason": "x"},
        headers={"Authorization": f"Bearer {dev}"},
    )
    assert r.status_code == 404 and "not registered" in r.json()["detail"]

"""#15.2: a stored endpoint definition is always valid, and one that is not stops nothing.

NaN once passed `endpoints create` (REST JSON ``NaN``, YAML ``.nan``), was stored, and then
every list was a 500 and every gateway failed to (re)load. Each surface now refuses it with
the field and the rule; a row that is invalid anyway (written by an older release, edited by
hand) is listed as broken, cannot be served, and leaves the others alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from modelward.api import create_app
from modelward.config import Workspace
from modelward.security import tokens
from modelward.security.roles import Role
from modelward.security.tokens import bootstrap_admin
from modelward.serving import BrokenEndpoint, list_endpoints
from modelward.serving.tables import endpoints
from modelward.session import Session, open_session
from tests.e2e.test_endpoints_cli import run
from tests.unit.registry.support import MLFLOW_WARNINGS, admin, placeholder_version, principal

pytestmark = MLFLOW_WARNINGS

SPEC = {
    "name": "churn",
    "model": "churn@production",
    "request": {"customer_id": "int", "discount": "float"},
}


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        placeholder_version(s, "churn")
        yield s


@pytest.fixture
def http(session: Session) -> Iterator[TestClient]:
    with TestClient(create_app(session), raise_server_exceptions=False) as client:
        yield client


def _dev(session: Session) -> dict[str, str]:
    principal(session, "dana", Role.DEVELOPER)
    _, secret = tokens.issue_token(session, admin(session), "dana", "test")
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


def _store_broken(session: Session, name: str) -> None:
    """A row as an older release could have stored it (a field type no longer known; NaN
    itself cannot be put into a Postgres JSON column, only into SQLite's)."""
    now = datetime.now(UTC)
    with session.store.transaction() as conn:
        conn.execute(
            insert(endpoints).values(
                name=name,
                spec={**SPEC, "name": name, "request": {"customer_id": "decimal"}},
                config_version=1,
                created_by="old",
                created_at=now,
                updated_by="old",
                updated_at=now,
            )
        )


def test_rest_refuses_non_finite_numbers_naming_the_field(
    session: Session, http: TestClient
) -> None:
    dev = _dev(session)
    for body, field in (
        ('"fallback": {"response": NaN}', "fallback: response: nan"),
        ('"fallback": {"response": [1, Infinity]}', "fallback: response[1]: inf"),
        ('"cache_ttl_s": Infinity', "cache_ttl_s"),
    ):
        raw = json.dumps(SPEC)[:-1] + ", " + body + "}"
        refused = http.post("/api/v1/endpoints", content=raw, headers=dev)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert field in refused.json()["detail"], refused.json()
    assert http.get("/api/v1/endpoints", headers=dev).json() == []


def test_one_broken_stored_definition_is_listed_as_broken_and_stops_nothing(
    session: Session, http: TestClient
) -> None:
    dev = _dev(session)
    assert http.post("/api/v1/endpoints", json=SPEC, headers=dev).status_code == 201
    _store_broken(session, "legacy")
    listed = http.get("/api/v1/endpoints", headers=dev)
    assert listed.status_code == 200, listed.text
    by_name = {e["name"]: e for e in listed.json()}
    assert by_name["churn"]["spec"]["model"] == "churn@production"
    assert by_name["legacy"]["spec"] is None
    assert "request.customer_id" in by_name["legacy"]["problem"]
    shown = http.get("/api/v1/endpoints/legacy", headers=dev)
    assert shown.status_code == 422 and "invalid stored definition" in shown.json()["detail"]
    # the way out: replace it with a valid definition (or delete it)
    fixed = http.put("/api/v1/endpoints/legacy", json={**SPEC, "name": "legacy"}, headers=dev)
    assert fixed.status_code == 200, fixed.text
    assert not any(isinstance(e, BrokenEndpoint) for e in list_endpoints(session))


def test_the_cli_refuses_yaml_nan_and_lists_a_broken_row(
    tmp_path: Path,
    workspace_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("MODELWARD_DATABASE_URL", "MODELWARD_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MODELWARD_WORKSPACE", str(workspace_dir))
    monkeypatch.setenv("MODELWARD_IDENTITY__USER", "cli-user")
    with open_session(workspace_dir) as session:
        bootstrap_admin(session)
        placeholder_version(session, "churn")
        _store_broken(session, "legacy")
    path = tmp_path / "nan.yaml"
    path.write_text(
        "name: churn\nmodel: churn@production\nrequest: {x: float}\nfallback: {response: .nan}\n"
    )
    code, _, err = run(capsys, "endpoints", "create", str(path))
    assert code == 2 and "fallback" in err and "not a finite number" in err, err
    code, out, _ = run(capsys, "endpoints", "list")
    assert code == 0 and "broken" in out and "legacy" in out

"""The REST API under hostile or careless callers: each test is one way it used to fail.

Numbers beyond int64, bodies before tokens, floods, oversized bodies, missing security
headers, leaking database names, docs served to whoever asks, and the OWASP walk's
object-level rules (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelward.api import create_app
from modelward.api.guard import TokenBuckets
from modelward.config import Workspace, init_workspace
from modelward.security import tokens
from modelward.security.roles import Permission, Role
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, admin, placeholder_version, principal

pytestmark = MLFLOW_WARNINGS

HUGE = "9" * 30  # beyond int64 (and any SQL integer)
VERSION_ROUTES = [
    ("GET", f"/api/v1/models/churn/versions/{HUGE}", None),
    ("GET", f"/api/v1/models/churn/versions/{HUGE}/lineage", None),
    ("GET", f"/api/v1/models/churn/versions/{HUGE}/transitions", None),
    (
        "POST",
        f"/api/v1/models/churn/versions/{HUGE}/transitions",
        {"to_stage": "Staging", "reason": "x"},
    ),
    ("POST", f"/api/v1/models/churn/versions/{HUGE}/approvals", {"stage": "Production"}),
    ("GET", f"/api/v1/models/churn/lineage/diff?from=1&to={HUGE}", None),
    ("PUT", f"/api/v1/endpoints/churn?expected_version={HUGE}", {"name": "churn"}),
]


def _session(root: Path, **env: str) -> Session:
    return Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester", **env}))


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


@pytest.fixture
def http(session: Session) -> Iterator[TestClient]:
    with TestClient(create_app(session), raise_server_exceptions=False) as client:
        yield client


def _auth(session: Session, name: str, role: Role) -> dict[str, str]:
    principal(session, name, role)
    _, secret = tokens.issue_token(session, admin(session), name, "test")
    return {"Authorization": f"Bearer {secret}"}


def test_a_version_beyond_int64_is_422_in_every_version_route(
    session: Session, http: TestClient
) -> None:
    auth = _auth(session, "root", Role.ADMIN)
    for method, path, body in VERSION_ROUTES:
        r = http.request(method, path, json=body, headers=auth)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"], r.text


def test_a_malformed_body_from_a_stranger_is_401_not_422(http: TestClient) -> None:
    for body in (b"{not json", b"\xff\xfe", b'{"to_stage": 7}'):
        r = http.post(
            "/api/v1/models/churn/versions/1/transitions",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 401, (body, r.text)


def test_a_body_that_is_not_json_is_400_for_a_known_caller(
    session: Session, http: TestClient
) -> None:
    auth = _auth(session, "dora", Role.DEVELOPER) | {"Content-Type": "application/json"}
    for body in (b"{not json", b"\xff\xfe"):
        r = http.post("/api/v1/models/churn/versions/1/transitions", content=body, headers=auth)
        assert r.status_code == 400 and "not valid JSON" in r.json()["detail"], r.text


def test_unknown_query_parameters_are_refused_by_name(session: Session, http: TestClient) -> None:
    auth = _auth(session, "vera", Role.VIEWER)
    r = http.get("/api/v1/audit?limt=5", headers=auth)
    assert r.status_code == 422 and "'limt'" in r.json()["detail"]
    assert http.get("/api/v1/audit?limit=5", headers=auth).status_code == 200


def test_a_one_value_query_parameter_given_twice_is_refused_by_name(
    session: Session, http: TestClient
) -> None:
    """`?name=a&name=b` once answered 200 with `b`'s snapshots: the caller never learned
    that `a` was dropped."""
    auth = _auth(session, "vera", Role.VIEWER)
    r = http.get("/api/v1/snapshots?name=a&name=b", headers=auth)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "query parameter 'name' is given 2 times; it takes one value"
    assert r.json()["field"] == "query.name"
    r = http.get("/api/v1/audit?limit=5&action=x&limit=5&limit=6", headers=auth)
    assert r.status_code == 422 and r.json()["field"] == "query.limit", r.text
    assert "3 times" in r.json()["detail"]
    assert http.get("/api/v1/snapshots?name=a", headers=auth).status_code == 200


def test_a_list_query_parameter_may_be_repeated(session: Session, http: TestClient) -> None:
    # the shadow report's `segment` takes many: an unknown endpoint is still the answer
    auth = _auth(session, "vera", Role.VIEWER)
    r = http.get("/api/v1/rollout/nope/shadow/report?segment=a&segment=b", headers=auth)
    assert r.status_code == 404, r.text
    r = http.get("/api/v1/rollout/nope/shadow/report?segment=a&top=1&top=2", headers=auth)
    assert r.status_code == 422 and r.json()["field"] == "query.top", r.text


def test_each_token_has_its_own_rate_limit_with_retry_after(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    env = {
        "MODELWARD_SERVER__RATE_LIMIT_PER_MINUTE": "1",
        "MODELWARD_SERVER__RATE_LIMIT_BURST": "2",
    }
    with _session(root, **env) as session:
        a, b = _auth(session, "ana", Role.VIEWER), _auth(session, "ben", Role.VIEWER)
        with TestClient(create_app(session), raise_server_exceptions=False) as http:
            assert [http.get("/api/v1/whoami", headers=a).status_code for _ in range(2)] == [
                200,
                200,
            ]
            limited = http.get("/api/v1/whoami", headers=a)
            assert limited.status_code == 429
            assert limited.headers["content-type"] == "application/problem+json"
            assert 1 <= int(limited.headers["retry-after"]) <= 60
            assert http.get("/api/v1/whoami", headers=b).status_code == 200  # another token


def test_token_buckets_refill_at_the_rate_and_stay_bounded() -> None:
    now = [0.0]
    buckets = TokenBuckets(60, 2, clock=lambda: now[0], max_keys=3)
    assert [buckets.take("t") for _ in range(2)] == [0.0, 0.0]
    assert buckets.take("t") == pytest.approx(1.0)  # one a second
    now[0] += 1.0
    assert buckets.take("t") == 0.0
    for key in ("a", "b", "c", "d"):
        buckets.take(key)
    assert len(buckets._buckets) == 3  # the least recently seen key was forgotten
    assert TokenBuckets(0, 1).take("t") == 0.0  # 0 turns the limit off


def test_bodies_over_the_limit_are_413_with_and_without_a_length(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    with _session(root, MODELWARD_SERVER__MAX_BODY_BYTES="2048") as session:
        auth = _auth(session, "dora", Role.DEVELOPER)
        big = b'{"name": "' + b"x" * 5000 + b'"}'
        with TestClient(create_app(session), raise_server_exceptions=False) as http:
            r = http.post(
                "/api/v1/endpoints",
                content=big,
                headers=auth | {"Content-Type": "application/json"},
            )
            assert r.status_code == 413 and "2,048 bytes" in r.json()["detail"]

            def chunks() -> Iterator[bytes]:  # no Content-Length: read up to the limit
                yield from (big[i : i + 1000] for i in range(0, len(big), 1000))

            r = http.post(
                "/api/v1/endpoints",
                content=chunks(),
                headers=auth | {"Content-Type": "application/json"},
            )
            assert r.status_code == 413, r.text


def test_every_answer_carries_the_security_headers(session: Session, http: TestClient) -> None:
    auth = _auth(session, "vera", Role.VIEWER)
    answers = [
        http.get("/api/v1/whoami", headers=auth),  # 200
        http.get("/api/v1/whoami"),  # 401
        http.get("/api/v1/snapshots/ghost", headers=auth),  # 404
        http.get("/nowhere"),  # 404 outside the API
    ]
    for r in answers:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert answers[0].headers["cache-control"] == "no-store"


def test_docs_work_offline_and_can_be_turned_off(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    with _session(root) as session, TestClient(create_app(session)) as http:
        page = http.get("/docs")
        assert page.status_code == 200
        assert "cdn." not in page.text and "/static-offline-docs/swagger-ui-bundle.js" in page.text
        asset = http.get("/static-offline-docs/swagger-ui-bundle.js")
        assert asset.status_code == 200 and len(asset.content) > 100_000
        redoc = http.get("/redoc")
        assert redoc.status_code == 200 and "cdn." not in redoc.text
        assert "fonts.googleapis" not in redoc.text
        assert "'self'" in page.headers["content-security-policy"]
        assert http.get("/openapi.json").json()["info"]["title"] == "modelward"
    with (
        _session(root, MODELWARD_SERVER__DOCS="false") as session,
        TestClient(create_app(session), raise_server_exceptions=False) as http,
    ):
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert http.get(path).status_code == 404, path


def test_an_unreachable_database_is_503_naming_nothing_of_it(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    url = "postgresql://secretuser@127.0.0.1:1/secretdb?password=hunter2&connect_timeout=2"
    with (
        _session(root, MODELWARD_DATABASE_URL=url) as session,
        TestClient(create_app(session), raise_server_exceptions=False) as http,
    ):
        assert http.get("/api/v1/models").status_code == 401  # no token: nothing to look up
        r = http.get("/api/v1/models", headers={"Authorization": "Bearer mwt_abc_def"})
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        for secret in ("secretuser", "secretdb", "127.0.0.1", "hunter2", "postgresql"):
            assert secret not in r.text, (secret, r.text)


def test_object_level_rules_hold_for_every_identity(session: Session, http: TestClient) -> None:
    """OWASP API1: roles decide what an identity may do, and some objects add their own
    rule: an author may never approve their own version, a path names the object acted on."""
    placeholder_version(session, "churn")  # registered by "tester", its author
    # "tester" is the workspace's admin: even the admin role may not approve its own work
    _, secret = tokens.issue_token(session, admin(session), "tester", "own")
    own = {"Authorization": f"Bearer {secret}"}
    r = http.post(
        "/api/v1/models/churn/versions/1/approvals", json={"stage": "Production"}, headers=own
    )
    assert r.status_code == 403 and "never approve" in r.json()["detail"]
    other = _auth(session, "alice", Role.APPROVER)
    r = http.post(
        "/api/v1/models/churn/versions/1/approvals", json={"stage": "Production"}, headers=other
    )
    assert r.status_code == 200 and r.json()["approver"] == "alice"
    # the body cannot redirect an update to another endpoint than the path names
    dev = _auth(session, "dora", Role.DEVELOPER)
    spec = {"name": "churn", "model": "churn@1", "request": {"x": "int"}}
    assert http.post("/api/v1/endpoints", json=spec, headers=dev).status_code == 201
    r = http.put("/api/v1/endpoints/churn", json={**spec, "name": "other"}, headers=dev)
    assert r.status_code == 422
    # a snapshot record does not show where the server keeps its files
    viewer = _auth(session, "vera", Role.VIEWER)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelward.data import api as data

    table = session.workspace.root / "t.parquet"
    pq.write_table(pa.table({"a": [1]}), table)
    data.snapshot(table, name="t", session=session)
    [record] = http.get("/api/v1/snapshots", headers=viewer).json()
    assert "path" not in record and "storage_path" not in record
    assert str(session.workspace.home) not in str(record)


def test_every_role_gets_exactly_what_its_permissions_allow(
    session: Session, http: TestClient
) -> None:
    """A walk over role x write route: 403 exactly where the role lacks the permission."""
    placeholder_version(session, "churn")
    writes = [
        (
            "POST",
            "/api/v1/models/churn/versions/1/transitions",
            Permission.MODELS_TRANSITION,
            {"to_stage": "Archived", "reason": "walk"},
        ),
        (
            "POST",
            "/api/v1/models/churn/versions/1/approvals",
            Permission.MODELS_APPROVE,
            {"stage": "Staging"},
        ),
        ("POST", "/api/v1/models/churn/rollback", Permission.MODELS_ROLLBACK, {"reason": "walk"}),
        ("POST", "/api/v1/models/sync", Permission.MODELS_WRITE, None),
        ("DELETE", "/api/v1/endpoints/ghost", Permission.ENDPOINTS_WRITE, None),
    ]
    for role in Role:
        auth = _auth(session, f"walker-{role.value}", role)
        for method, path, needed, body in writes:
            r = http.request(method, path, json=body, headers=auth)
            allowed = role == Role.ADMIN or needed in _permissions(role)
            assert (r.status_code == 403) != allowed, (role, method, path, r.status_code, r.text)


def _permissions(role: Role) -> frozenset[Permission]:
    from modelward.security.roles import ROLE_PERMISSIONS

    return ROLE_PERMISSIONS[role]

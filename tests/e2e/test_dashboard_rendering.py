"""The dashboard's rules over HTTP (no browser), which every page gets from
``web/rendering.py``: a session needed, a bad token refused by name, a viewer sees no secret and
cannot act, a form without the CSRF value changes nothing, signing out ends the session."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from modelward import security
from modelward.api import create_app
from modelward.config import Workspace, init_workspace
from modelward.web import mount_dashboard
from tests.unit.registry.support import MLFLOW_WARNINGS, admin
from tests.unit.web.support import World, build_world, csrf_of, signed_in

pytestmark = [*MLFLOW_WARNINGS, pytest.mark.slow, pytest.mark.xdist_group("dashboard-pages")]


PAGES = [
    "/ui/",
    "/ui/models",
    "/ui/models/churn",
    "/ui/models/churn/2",
    "/ui/endpoints",
    "/ui/endpoints/churn",
    "/ui/endpoints/churn/shadow",
    "/ui/monitoring",
    "/ui/monitoring/churn",
    "/ui/features",
    "/ui/pipelines",
    "/ui/audit",
    "/ui/readiness",
    "/ui/readiness?ref=churn@2&endpoint=churn",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = init_workspace(tmp_path_factory.mktemp("pages") / "ws", project="pages")
    made = build_world(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"}))
    yield made
    made.session.close()


@pytest.fixture(scope="module")
def app(world: World):  # type: ignore[no-untyped-def]
    return mount_dashboard(create_app(world.session), world.session)


def _flash(html: str) -> str:
    found = re.search(r'<p class="flash (\w+)"[^>]*>([^<]*)</p>', html)
    assert found, "no message on the page"
    return f"{found.group(1)}: {found.group(2)}"


def test_every_page_needs_a_session_and_a_bad_token_is_refused_by_name(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    assert client.get("/").headers["location"] == "/ui/"
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/ui/signin?next=")
    csrf = csrf_of(client.get("/ui/signin").text)
    refused = client.post("/ui/signin", data={"csrf": csrf, "token": "mwt_nope_nope"})
    assert refused.status_code == 401 and "mwt_nope_nope" not in refused.text
    # a forged session cookie is no session
    client.cookies.set("mw_session", "eyJ0IjoibXd0In0.forged", path="/ui")
    assert client.get("/ui/models").status_code == 303


def test_a_viewer_sees_every_page_without_a_secret_or_pii_and_cannot_act(  # type: ignore[no-untyped-def]
    app, world: World
) -> None:
    vic = signed_in(app, world.tokens["vic"])
    for path in PAGES:
        answer = vic.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        for token in world.tokens.values():
            assert token not in answer.text and token.split("_", 2)[2] not in answer.text
        assert "customer_id=" not in answer.text  # logged inputs (PII field) never shown
    page = vic.get("/ui/models/churn/2").text
    assert "/approve" not in page and "/transition" not in page
    refused = vic.post(
        "/ui/models/churn/2/approve", data={"csrf": csrf_of(page), "stage": "Production"}
    )
    assert refused.status_code == 303
    assert _flash(vic.get(refused.headers["location"]).text).startswith(
        "error: vic (viewer) may not do this"
    )


def test_a_form_without_the_session_csrf_value_changes_nothing(app, world: World) -> None:  # type: ignore[no-untyped-def]
    alice = signed_in(app, world.tokens["alice"])
    for data in ({}, {"csrf": "guessed"}):
        answer = alice.post("/ui/models/churn/3/approve", data={**data, "stage": "Production"})
        assert answer.status_code == 403
    with world.session.store.read() as conn:
        approved = list(security.entries(conn, action="model.approved", target="model:churn@3"))
    assert approved == []


def test_signing_out_ends_the_session_and_a_revoked_token_ends_it_too(app, world: World) -> None:  # type: ignore[no-untyped-def]
    from modelward.security import issue_token, revoke_token

    _, token = issue_token(world.session, admin(world.session), "vic", "short-lived")
    vic = signed_in(app, token)
    assert vic.get("/ui/audit").status_code == 200
    revoke_token(world.session, admin(world.session), token.split("_")[1])
    answer = vic.get("/ui/audit")
    assert answer.status_code == 303 and "/ui/signin" in answer.headers["location"]
    again = signed_in(app, world.tokens["vic"])
    out = again.post("/ui/signout", data={"csrf": csrf_of(again.get("/ui/").text)})
    assert out.status_code == 303
    assert again.get("/ui/").status_code == 303

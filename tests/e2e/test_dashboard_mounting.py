"""The dashboard mounted on the API server: ``/`` sends a browser to it, a page without a
session sends it to sign in and back, every answer carries the Content-Security-Policy, and
the stylesheet is cached while pages never are."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from modelward.api import create_app
from modelward.config import Workspace, init_workspace
from modelward.web import mount_dashboard
from modelward.web.rendering import CSP
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.web.support import World, build_world

pytestmark = [*MLFLOW_WARNINGS, pytest.mark.slow, pytest.mark.xdist_group("dashboard-pages")]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = init_workspace(tmp_path_factory.mktemp("pages") / "ws", project="pages")
    made = build_world(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"}))
    yield made
    made.session.close()


@pytest.fixture(scope="module")
def app(world: World):  # type: ignore[no-untyped-def]
    return mount_dashboard(create_app(world.session), world.session)


def test_the_root_sends_a_browser_to_the_dashboard(app, world: World) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    answer = client.get("/")
    assert (answer.status_code, answer.headers["location"]) == (307, "/ui/")


def test_a_page_without_a_session_sends_to_sign_in_and_back(app, world: World) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    answer = client.get("/ui/models/churn", params={"q": "a b"})
    assert answer.status_code == 303
    # back to the same page of the dashboard after signing in (its path within /ui)
    assert answer.headers["location"].startswith("/ui/signin?next=/models/churn")


def test_every_answer_has_the_policy_and_only_assets_are_cached(app, world: World) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    css = client.get("/ui/static/dashboard.css")
    assert css.status_code == 200 and css.headers["cache-control"] == "public, max-age=3600"
    signin = client.get("/ui/signin")
    assert signin.headers["cache-control"] == "no-store"
    for answer in (css, signin, client.get("/ui/nowhere")):
        assert answer.headers["content-security-policy"] == CSP
        assert "script-src" not in answer.headers["content-security-policy"]


def test_the_rest_api_beside_the_dashboard_is_untouched(app, world: World) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    answer = client.get("/api/v1/models")
    assert answer.status_code == 401  # the API's own token rule, not a sign-in redirect
    assert answer.headers["content-security-policy"] != CSP  # the API keeps its own policy

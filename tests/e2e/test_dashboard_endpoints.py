"""The endpoint page over HTTP: an operator aborts a release with the same audit entry as the
REST API."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from modelward import rollout, security
from modelward.api import create_app
from modelward.config import Workspace, init_workspace
from modelward.web import mount_dashboard
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.web.support import World, build_world, csrf_of, signed_in

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


def _flash(html: str) -> str:
    found = re.search(r'<p class="flash (\w+)"[^>]*>([^<]*)</p>', html)
    assert found, "no message on the page"
    return f"{found.group(1)}: {found.group(2)}"


def test_an_operator_aborts_the_release_with_the_same_audit_entry_as_the_api(  # type: ignore[no-untyped-def]
    app, world: World
) -> None:
    olga = signed_in(app, world.tokens["olga"])
    page = olga.get("/ui/endpoints/churn").text
    release = rollout.current_release(world.session, "churn")
    assert "/release/abort" in page
    stale = olga.post(
        "/ui/endpoints/churn/release/abort",
        data={"csrf": csrf_of(page), "expected_version": str(release.version + 5)},
    )
    assert _flash(olga.get(stale.headers["location"]).text).startswith("error:")
    done = olga.post(
        "/ui/endpoints/churn/release/abort",
        data={"csrf": csrf_of(page), "expected_version": str(release.version)},
    )
    assert "now aborted" in _flash(olga.get(done.headers["location"]).text)
    assert rollout.current_release(world.session, "churn").state == "aborted"
    with world.session.store.read() as conn:
        [entry] = list(security.entries(conn, actor="olga", action="release.abort"))
    assert release.id in f"{entry.target} {entry.payload}"

    page = olga.get("/ui/endpoints/churn").text  # no live release: the start form is back
    started = olga.post(
        "/ui/endpoints/churn/release",
        data={"csrf": csrf_of(page), "candidate": "churn@3", "strategy": "shadow"},
    )
    assert "shadow of churn@3" in _flash(olga.get(started.headers["location"]).text)
    assert rollout.current_release(world.session, "churn").candidate == "churn@3"

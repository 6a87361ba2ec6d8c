"""The model pages over HTTP: the list filtered by name, a version's page with its lineage,
and an approval an author of the version may not give."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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


def test_the_model_list_is_filtered_by_name(app, world: World) -> None:  # type: ignore[no-untyped-def]
    vic = signed_in(app, world.tokens["vic"])
    assert 'href="/ui/models/churn"' in vic.get("/ui/models", params={"q": "chu"}).text
    assert 'href="/ui/models/churn"' not in vic.get("/ui/models", params={"q": "zzz"}).text
    # a query past its bound is a bad address: the dashboard's "No such page", not a 500
    too_long = vic.get("/ui/models", params={"q": "x" * 129})
    assert too_long.status_code == 404 and "No such page" in too_long.text


def test_a_version_page_shows_its_lineage_and_an_unknown_one_says_so(app, world: World) -> None:  # type: ignore[no-untyped-def]
    vic = signed_in(app, world.tokens["vic"])
    page = vic.get("/ui/models/churn/2")
    assert page.status_code == 200 and world.snapshot_id[:12] in page.text
    missing = vic.get("/ui/models/churn/99")
    assert missing.status_code == 404 and "model &#39;churn&#39; has no version 99" in missing.text


def test_a_viewer_cannot_approve_and_nothing_is_recorded(app, world: World) -> None:  # type: ignore[no-untyped-def]
    from modelward.registry import get_version

    before = get_version(world.session, "churn@3").to_dict()
    vic = signed_in(app, world.tokens["vic"])
    csrf = csrf_of(vic.get("/ui/").text)  # the sign-out form carries the session's value
    answer = vic.post(
        "/ui/models/churn/3/approve", data={"csrf": csrf, "stage": "Production", "note": "ok"}
    )
    assert answer.status_code in (303, 403)
    assert get_version(world.session, "churn@3").to_dict() == before

"""The catalog pages over HTTP: a snapshot's page shows its name, version and content hash to a
viewer, an unknown snapshot is a page saying so, and the feature views page lists none
when no view is defined."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.api import create_app
from modelward.config import Workspace, init_workspace
from modelward.web import mount_dashboard
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.web.support import World, build_world, signed_in

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


def test_a_snapshot_page_shows_what_was_snapshotted(app, world: World) -> None:  # type: ignore[no-untyped-def]
    vic = signed_in(app, world.tokens["vic"])
    page = vic.get(f"/ui/snapshots/{world.snapshot_id}")
    assert page.status_code == 200
    assert "customers" in page.text and world.snapshot_id[:12] in page.text


def test_an_unknown_snapshot_is_a_page_that_says_so(app, world: World) -> None:  # type: ignore[no-untyped-def]
    vic = signed_in(app, world.tokens["vic"])
    page = vic.get("/ui/snapshots/nosuchsnapshot@9")
    assert page.status_code == 404
    assert 'class="flash error"' in page.text and "nosuchsnapshot" in page.text
    assert "`modelward data list` shows what exists" in page.text


def test_the_feature_views_page_answers_with_no_views_defined(app, world: World) -> None:  # type: ignore[no-untyped-def]
    vic = signed_in(app, world.tokens["vic"])
    assert vic.get("/ui/features").status_code == 200
    assert vic.get("/ui/features/no_such_view").status_code == 404

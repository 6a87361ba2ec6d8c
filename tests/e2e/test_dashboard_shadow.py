"""The shadow page over HTTP: an endpoint without a shadow release says so and lists the
earlier ones, and a query past its bounds is the dashboard's "No such page"."""

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


def test_an_endpoint_in_a_canary_has_no_shadow_report_to_show(app, world: World) -> None:  # type: ignore[no-untyped-def]
    vic = signed_in(app, world.tokens["vic"])
    page = vic.get("/ui/endpoints/churn/shadow")
    assert page.status_code == 200
    assert "no shadow release is live on churn: start one with" in page.text
    assert "modelward rollout start churn --candidate NAME@V --strategy shadow" in page.text


def test_bounds_of_the_query_are_refused(app, world: World) -> None:  # type: ignore[no-untyped-def]
    vic = signed_in(app, world.tokens["vic"])
    # a query past its bounds is a bad address: the dashboard's "No such page"
    for params in ({"top": 0}, {"top": 101}, {"threshold": "nan-ish"}):
        page = vic.get("/ui/endpoints/churn/shadow", params=params)
        assert page.status_code == 404 and "No such page" in page.text, params
    assert vic.get("/ui/endpoints/bad name/shadow").status_code == 404

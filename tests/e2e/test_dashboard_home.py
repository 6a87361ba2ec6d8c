"""The readiness page over HTTP: the seven questions of a version answered."""

from __future__ import annotations

import re
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


def test_the_readiness_page_answers_the_seven_questions_of_a_version(app, world: World) -> None:  # type: ignore[no-untyped-def]
    vic = signed_in(app, world.tokens["vic"])
    page = vic.get("/ui/models/churn/2").text
    assert (
        'href="/ui/readiness?ref=churn%402"' in page or 'href="/ui/readiness?ref=churn@2"' in page
    )
    answers = vic.get("/ui/readiness", params={"ref": "churn@2", "endpoint": "churn"}).text
    rows = re.findall(r'<tr class="answer-(yes|no|unknown)">', answers)
    assert len(rows) == 7, answers[-2000:]
    assert 'id="verdict"' in answers
    missing = vic.get("/ui/readiness", params={"ref": "churn@99"}).text
    assert 'id="problem"' in missing and "churn" in missing

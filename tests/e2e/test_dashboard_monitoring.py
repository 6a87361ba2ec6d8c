"""The monitoring page over HTTP: an operator acknowledges the firing alert and a viewer
cannot."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from modelward import security
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


def test_an_operator_acknowledges_the_firing_alert_and_a_viewer_cannot(  # type: ignore[no-untyped-def]
    app, world: World
) -> None:
    vic = signed_in(app, world.tokens["vic"])
    seen = vic.get("/ui/monitoring/churn").text
    assert "model_drift:1" in seen and "Acknowledge" not in seen  # a viewer sees, never acts
    refused = vic.post(
        "/ui/monitoring/alerts/acknowledge",
        data={"csrf": csrf_of(seen), "endpoint": "churn", "key": "model_drift:1"},
    )
    assert "alerts:acknowledge" in _flash(vic.get(refused.headers["location"]).text)

    olga = signed_in(app, world.tokens["olga"])
    page = olga.get("/ui/monitoring/churn").text
    assert "/ui/monitoring/alerts/acknowledge" in page
    form = {"csrf": csrf_of(page), "endpoint": "churn", "key": "model_drift:1", "back": "endpoint"}
    done = olga.post("/ui/monitoring/alerts/acknowledge", data=form | {"note": "on the feed"})
    assert done.headers["location"] == "/ui/monitoring/churn"
    after = olga.get(done.headers["location"]).text
    assert _flash(after).startswith("ok: alert model_drift:1 on churn acknowledged")
    assert "olga" in after and "on the feed" in after and "Acknowledge</button>" not in after
    again = olga.post("/ui/monitoring/alerts/acknowledge", data=form)
    assert "already acknowledged by olga" in _flash(olga.get(again.headers["location"]).text)
    with world.session.store.read() as conn:
        [entry] = list(security.entries(conn, action="monitoring.alert_acknowledged"))
    assert entry.actor == "olga" and entry.payload["key"] == "model_drift:1"

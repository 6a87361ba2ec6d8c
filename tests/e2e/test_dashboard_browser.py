"""The dashboard in a real headless Chromium (Debian's, driven by Playwright).

One server (the REST API with the dashboard mounted, as ``modelward server`` runs it)
and one browser for the whole module. Every page visited is checked for console errors
and for links that do not answer; screenshots go to ``.screenshots/`` (not committed).
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelward import rollout
from modelward.api import create_app
from modelward.config import Workspace, init_workspace
from modelward.web import mount_dashboard
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.web.support import World, build_world

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / ".screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [*MLFLOW_WARNINGS, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def _need_browser() -> Any:
    from tests.services import in_ci

    missing = []
    if shutil.which(CHROMIUM) is None:
        missing.append(f"{CHROMIUM} (apt-get install -y chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("playwright (the dev extra)")
        sync_playwright = None
    if missing:
        reason = "the browser tests need " + " and ".join(missing)
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = init_workspace(tmp_path_factory.mktemp("dash") / "ws", project="dash")
    made = build_world(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"}))
    yield made
    made.session.close()


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    import uvicorn

    app = mount_dashboard(create_app(world.session), world.session)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the dashboard server did not start within 20 s")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    sync_playwright = _need_browser()
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Visitor:
    """A signed-in person's tab: every page it lands on is checked the same way."""

    #: links already fetched in this module (each answers the same for every role here)
    checked: set[str] = set()

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(base_url=base)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def sign_in(self, token: str) -> None:
        self.page.goto("/ui/")
        assert "/ui/signin" in self.page.url
        self.page.fill("#token", token)
        self.page.click("form.signin button")
        self.page.wait_for_url(re.compile(r".*/ui/$"))

    def landed(self, shot: str | None = None) -> None:
        """Console clean and every link on the page answers (each link fetched once)."""
        self.page.wait_for_load_state("load")
        assert self.errors == [], f"console errors on {self.page.url}: {self.errors}"
        links = self.page.locator("a[href]").evaluate_all("els => els.map(e => e.href)")
        for link in links:
            url = link.split("#")[0]
            if not url.startswith(self.base) or url in self.checked:
                continue
            self.checked.add(url)
            answer = self.context.request.get(url, max_redirects=0)
            assert answer.status < 400, f"broken link {url} on {self.page.url}: {answer.status}"
        if shot:
            self.page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)

    def flash(self) -> str:
        return str(self.page.locator(".flash").first.inner_text())

    def close(self) -> None:
        self.context.close()


def test_an_author_is_refused_and_another_approver_approves(
    browser: Any, server: str, world: World
) -> None:
    ana = Visitor(browser, server)  # an approver, and the author of every churn version
    ana.sign_in(world.tokens["ana"])
    ana.landed()
    ana.page.click("nav >> text=Models")
    ana.page.fill("#q", "chu")
    ana.page.click("form.filter button")
    ana.page.click("table >> text=churn")
    ana.landed()
    ana.page.click("text=v2")
    ana.landed()
    assert "complete" in ana.page.locator("h2", has_text="Lineage").inner_text()
    ana.page.click(f"a[href$='/snapshots/{world.snapshot_id}']")
    assert world.snapshot_id in ana.page.locator("table.kv").inner_text()
    ana.landed()
    ana.page.go_back()

    ana.page.click("form[action$='/approve'] button")
    assert "author of churn@2 and can never approve it" in ana.flash()
    ana.page.fill("#tr-reason", "beats the baseline")
    ana.page.select_option("#tr-stage", "Production")
    ana.page.click("form[action$='/transition'] button")
    assert "approvals: 0 of 1 required for Production" in ana.flash()
    ana.landed()
    ana.page.click("header button")  # sign out
    ana.page.wait_for_url(re.compile(r".*/ui/signin.*"))
    ana.close()

    alice = Visitor(browser, server)
    alice.sign_in(world.tokens["alice"])
    alice.page.goto("/ui/models/churn/2")
    alice.page.fill("#ap-comment", "lineage and metrics reviewed")
    alice.page.click("form[action$='/approve'] button")
    assert alice.flash() == "alice approved churn@2 for Production"
    approvals = alice.page.locator("h2:has-text('Approvals') + table").inner_text()
    assert "alice" in approvals and "lineage and metrics reviewed" in approvals
    alice.landed("approved")
    alice.page.click("text=Audit entries of churn@2")
    assert "model.approved" in alice.page.locator("table").inner_text()
    assert "intact" in alice.page.locator("#verify").inner_text()
    alice.landed("audit")
    alice.close()


def test_a_viewer_sees_the_canary_and_the_alert_and_cannot_act(
    browser: Any, server: str, world: World
) -> None:
    from playwright.sync_api import expect

    vic = Visitor(browser, server)
    vic.sign_in(world.tokens["vic"])
    assert vic.page.locator(".card.alarm").inner_text().split() == ["1", "alerts", "firing"]
    vic.page.click("nav >> text=Endpoints")
    vic.landed()
    vic.page.click("table >> text=churn")
    release = vic.page.locator("h2:has-text('Release') + table").inner_text()
    assert "churn@1 → churn@2" in release and "running" in release
    assert vic.page.locator("svg.chart polyline").count() >= 3  # rate, latency, failures
    assert vic.page.locator("form[action*='/release/']").count() == 0
    vic.landed("endpoint")

    # a live release's page reloads itself: the canary moving on shows without a click
    vic.page.goto("/ui/endpoints/churn?refresh=1")
    assert "step 1 of 4" in vic.page.inner_text("#release-state")
    rollout.advance(world.session, world.people["olga"], "churn", reason="step looks fine")
    expect(vic.page.locator("#release-state")).to_contain_text("step 2 of 4", timeout=15_000)
    vic.page.click("nav >> text=Monitoring")
    assert "firing" in vic.page.locator("tr.alert").first.inner_text()
    vic.landed()
    vic.page.click("table >> text=churn")
    vic.landed("monitoring")
    vic.page.goto("/ui/models/churn/3")
    assert vic.page.locator("form.action").count() == 0
    assert "can look, not act" in vic.page.inner_text("section.actions")
    vic.landed()
    # the candidate's readiness, from its version page: seven answers with their evidence
    vic.page.goto("/ui/models/churn/2")
    vic.page.click("#readiness-link")
    assert "churn@2" in vic.page.inner_text("#verdict")
    assert vic.page.locator("#answers tr").count() == 1 + 7
    vic.landed("readiness")
    vic.close()

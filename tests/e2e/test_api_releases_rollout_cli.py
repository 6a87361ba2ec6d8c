"""``modelward rollout`` and ``/api/v1/rollout``: the same releases, roles and conflicts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelward import serving
from modelward.api import create_app
from modelward.config import Workspace
from modelward.security import Role, entries, tokens
from tests.unit.registry.support import MLFLOW_WARNINGS, admin, cli, principal
from tests.unit.rollout.support import Setup, setup

pytestmark = MLFLOW_WARNINGS


def _world(workspace: Workspace) -> Iterator[Setup]:
    made = setup(workspace)
    spec = serving.parse_spec(
        {
            "name": "churn",
            "model": made.baseline,
            "request": {"customer_id": "int", "discount": "float"},
            "entity_keys": ["customer_id"],
        }
    )
    serving.create_endpoint(made.session, admin(made.session), spec)
    yield made
    made.session.close()


@pytest.fixture
def w(workspace: Workspace) -> Iterator[Setup]:
    """On SQLite and Postgres (the REST tests)."""
    yield from _world(workspace)


@pytest.fixture
def cw(sqlite_workspace: Workspace) -> Iterator[Setup]:
    """On SQLite only: the CLI tests (each command opens the store; the state machine is
    tested on both backends in tests/unit/rollout)."""
    yield from _world(sqlite_workspace)


def _bearer(w: Setup, name: str, role: Role) -> dict[str, str]:
    principal(w.session, name, role)
    _, secret = tokens.issue_token(w.session, admin(w.session), name, "test")
    return {"Authorization": f"Bearer {secret}"}


def test_the_cli_starts_shows_and_ends_a_release(
    cw: Setup,
    sqlite_workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("steps: [10, 100]\nmin_sample: 50\nsticky_by: customer_id\n")
    code, out, err = cli(
        capsys,
        monkeypatch,
        sqlite_workspace,
        "rollout",
        "start",
        "churn",
        "--candidate",
        cw.candidate,
        "--strategy",
        "canary",
        "--policy",
        str(policy),
        "--json",
    )
    assert code == 0, err
    started = json.loads(out)
    assert (started["baseline"], started["candidate"]) == (cw.baseline, cw.candidate)
    assert started["weight"] == 10 and started["policy"]["sticky_by"] == "customer_id"
    code, out, _ = cli(capsys, monkeypatch, sqlite_workspace, "rollout", "status", "churn")
    assert code == 0 and "10%" in out and cw.candidate in out
    # the controller finds an empty prediction log: too little data, so it holds
    code, out, err = cli(
        capsys, monkeypatch, sqlite_workspace, "rollout", "controller", "--once", "--json"
    )
    assert code == 0, err
    assert [d["action"] for d in json.loads(out)] == ["hold"]
    # two operators acting on the same version: the second is refused with exit 1
    code, _, _ = cli(
        capsys,
        monkeypatch,
        sqlite_workspace,
        "rollout",
        "pause",
        "churn",
        "--expected-version",
        "1",
    )
    assert code == 0
    code, _, err = cli(
        capsys,
        monkeypatch,
        sqlite_workspace,
        "rollout",
        "abort",
        "churn",
        "--expected-version",
        "1",
    )
    assert code == 1 and "changed since version 1" in err
    code, out, _ = cli(
        capsys, monkeypatch, sqlite_workspace, "rollout", "promote", "churn", "--json"
    )
    assert code == 0 and json.loads(out)["state"] == "promoted"
    code, out, _ = cli(capsys, monkeypatch, sqlite_workspace, "rollout", "list", "--json")
    assert [r["state"] for r in json.loads(out)] == ["promoted"]


def test_the_cli_names_a_bad_policy_field_and_a_bad_strategy(
    cw: Setup,
    sqlite_workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("steps: [50, 25]\nmetrics: [{metric: latncy}]\n")
    args = ["rollout", "start", "churn", "--candidate", cw.candidate]
    code, _, err = cli(capsys, monkeypatch, sqlite_workspace, *args, "--policy", str(policy))
    assert code == 2
    assert "step 1: 25.0 is not above the step before it" in err and "'latncy'" in err
    code, _, err = cli(capsys, monkeypatch, sqlite_workspace, *args, "--strategy", "linear")
    assert code == 2 and "strategy: 'linear'" in err
    policy.write_text("sticky_by: email\n")
    code, _, err = cli(capsys, monkeypatch, sqlite_workspace, *args, "--policy", str(policy))
    assert code == 2 and "policy.sticky_by: 'email' is not a request field" in err


def test_rest_operators_act_and_viewers_read(w: Setup) -> None:
    with TestClient(create_app(w.session), raise_server_exceptions=False) as http:
        op = _bearer(w, "opal", Role.OPERATOR)
        viewer = _bearer(w, "vera", Role.VIEWER)
        dev = _bearer(w, "dev", Role.DEVELOPER)
        body = {"candidate": w.candidate, "strategy": "shadow"}
        assert http.post("/api/v1/rollout/churn", json=body, headers=viewer).status_code == 403
        assert http.post("/api/v1/rollout/churn", json=body, headers=dev).status_code == 403
        started = http.post("/api/v1/rollout/churn", json=body, headers=op)
        assert started.status_code == 201, started.text
        assert started.json()["plan"]["shadow_percent"] == 100
        again = http.post("/api/v1/rollout/churn", json=body, headers=op)
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")
        status = http.get("/api/v1/rollout/churn", headers=viewer)
        assert status.status_code == 200 and status.json()["state"] == "running"
        assert http.post("/api/v1/rollout/churn/abort", headers=viewer).status_code == 403
        stale = http.post("/api/v1/rollout/churn/pause?expected_version=7", headers=op)
        assert stale.status_code == 409
        ended = http.post("/api/v1/rollout/churn/abort", json={"reason": "enough"}, headers=op)
        assert ended.status_code == 200 and ended.json()["state"] == "aborted"
        listed = http.get("/api/v1/rollout?live=true", headers=viewer)
        assert listed.status_code == 200 and listed.json() == []
        bad = http.post(
            "/api/v1/rollout/churn",
            json={"candidate": w.candidate, "policy": {"alpha": 2}},
            headers=op,
        )
        assert bad.status_code == 422 and bad.json()["field"] == "policy.alpha"
        assert http.get("/api/v1/rollout/nowhere", headers=viewer).status_code == 404


def test_the_cli_switches_blue_green_only_after_a_smoke_test_or_an_audited_skip(
    cw: Setup,
    sqlite_workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ["rollout", "start", "churn", "--candidate", cw.candidate, "--strategy", "blue-green"]
    code, _, err = cli(capsys, monkeypatch, sqlite_workspace, *args)
    assert code == 0, err
    # the candidate was not registered by a pipeline: it has no golden set to test with
    code, _, err = cli(capsys, monkeypatch, sqlite_workspace, "rollout", "advance", "churn")
    assert code == 1 and "no golden set" in err and "--golden" in err
    golden = tmp_path / "golden.json"
    golden.write_text('{"rows": [{"customer_id": 1}], "expected": []}')
    code, _, err = cli(
        capsys,
        monkeypatch,
        sqlite_workspace,
        "rollout",
        "advance",
        "churn",
        "--golden",
        str(golden),
    )
    assert code == 2 and "expected: expected one prediction per row" in err
    golden.write_text('{"rows": [{"customer_id": 1}], "expected": [0.5]}')
    # no gateway listens there: the smoke test cannot run, so there is no switch
    code, _, err = cli(
        capsys,
        monkeypatch,
        sqlite_workspace,
        *("rollout", "advance", "churn", "--golden", str(golden)),
        *("--gateway", "http://127.0.0.1:9"),
    )
    assert code == 1 and "the gateway cannot be reached" in err
    code, out, _ = cli(
        capsys, monkeypatch, sqlite_workspace, "rollout", "advance", "churn", "--no-smoke", "--json"
    )
    assert code == 0 and json.loads(out)["weight"] == 100
    with cw.session.store.read() as conn:
        actions = [
            (e.action, e.payload.get("evidence")) for e in entries(conn, target="endpoint:churn")
        ]
    assert actions[-2][0] == "release.smoke"  # the failed attempt, recorded
    assert actions[-1] == ("release.advance", {"smoke": {"skipped": True}})


def test_the_shadow_report_on_the_cli_and_over_rest(
    cw: Setup,
    sqlite_workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelward import rollout
    from modelward.monitoring import open_workspace_log
    from tests.unit.rollout.traffic import mirror

    release = rollout.start_release(
        cw.session,
        cw.operator,
        endpoint="churn",
        baseline=cw.baseline,
        candidate=cw.candidate,
        strategy="shadow",
    )
    sink = open_workspace_log(cw.session)
    sink.write(mirror(release, 300, seed=7))
    sink.close()
    report = ["rollout", "shadow-report", "churn"]
    code, out, err = cli(capsys, monkeypatch, sqlite_workspace, *report, "--json", "--top", "3")
    assert code == 0, err
    data = json.loads(out)
    assert (data["worst_cohort"]["field"], data["worst_cohort"]["value"]) == ("plan", "pro")
    assert len(data["examples"]) == 3
    code, out, _ = cli(capsys, monkeypatch, sqlite_workspace, *report)
    assert code == 0 and "disagreement concentrates where plan = pro" in out
    page = sqlite_workspace.root / "shadow.html"
    code, out, _ = cli(capsys, monkeypatch, sqlite_workspace, *report, "--html", str(page))
    assert code == 0 and f"wrote {page}" in out.replace("\n", "")
    assert "Disagreement concentrates where <b>plan = pro</b>" in page.read_text(encoding="utf-8")
    code, _, err = cli(capsys, monkeypatch, sqlite_workspace, *report, "--segment", "region")
    assert code == 2 and "segments: region is not an input" in err
    with TestClient(create_app(cw.session), raise_server_exceptions=False) as http:
        viewer = _bearer(cw, "vera", Role.VIEWER)
        got = http.get("/api/v1/rollout/churn/shadow/report?segment=plan", headers=viewer)
        assert got.status_code == 200, got.text
        assert got.json()["pairs"] == data["pairs"] and list(got.json()["segments"]) == ["plan"]
        assert http.get("/api/v1/rollout/churn/shadow/report").status_code == 401
    _dashboard_shows_the_report(cw, data)


def _dashboard_shows_the_report(w: Setup, data: dict[str, Any]) -> None:
    """The dashboard's page of the same report: signed in, server-rendered, no script."""
    import re

    from modelward.web import mount_dashboard

    app = mount_dashboard(create_app(w.session), w.session)
    with TestClient(app, follow_redirects=False) as http:
        page = "/ui/endpoints/churn/shadow?segment=plan"
        assert http.get(page).status_code == 303  # signed out: to the sign-in page
        _, secret = tokens.issue_token(w.session, admin(w.session), "vera", "dashboard")
        form = re.search(r'name="csrf" value="([^"]+)"', http.get("/ui/signin").text)
        assert form is not None
        signed = http.post("/ui/signin", data={"csrf": form.group(1), "token": secret, "next": "/"})
        assert signed.status_code == 303
        got = http.get(page)
        assert got.status_code == 200, got.text
        assert "script-src" not in got.headers["content-security-policy"]
        assert "<script" not in got.text
        assert "Disagreement concentrates where <b>plan = pro</b>" in got.text
        assert f"{data['pairs']:,}" in got.text
        endpoint_page = http.get("/ui/endpoints/churn").text
        assert "/ui/endpoints/churn/shadow?release=" in endpoint_page
        wrong = http.get("/ui/endpoints/churn/shadow?segment=region")
        assert wrong.status_code == 422 and "segments: region is not an input" in wrong.text


def test_promote_ci_exits_by_the_live_verdict(
    cw: Setup,
    sqlite_workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelward import rollout
    from modelward.monitoring import open_workspace_log
    from tests.unit.rollout.traffic import GOOD, serve_release

    release = rollout.start_release(
        cw.session,
        cw.operator,
        endpoint="churn",
        baseline=cw.baseline,
        candidate=cw.candidate,
        strategy="canary",
        policy=rollout.RolloutPolicy(steps=[20, 50], min_sample=200),
    )
    ci = ("rollout", "promote", "churn", "--ci")
    code, out, _ = cli(capsys, monkeypatch, sqlite_workspace, *ci)
    assert code == 1 and "not promoted" in out and "inconclusive" in out  # no traffic yet
    assert rollout.current_release(cw.session, "churn").state == "running"
    sink = open_workspace_log(cw.session)
    start = int(release.step_started_at.timestamp() * 1_000_000) + 1
    sink.write(serve_release(release, 1_500, seed=31, candidate=GOOD, start_us=start))
    sink.close()
    code, out, err = cli(capsys, monkeypatch, sqlite_workspace, *ci, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["promoted"] and data["state"] == "promoted"
    assert data["analysis"]["verdict"] == "pass"


def test_rest_switches_blue_green_only_when_told_to_skip_the_smoke_test(w: Setup) -> None:
    with TestClient(create_app(w.session), raise_server_exceptions=False) as http:
        op = _bearer(w, "opal", Role.OPERATOR)
        body = {"candidate": w.candidate, "strategy": "blue-green"}
        assert http.post("/api/v1/rollout/churn", json=body, headers=op).status_code == 201
        refused = http.post("/api/v1/rollout/churn/advance", headers=op)
        assert refused.status_code == 422 and "smoke-tested" in refused.json()["detail"]
        assert http.get("/api/v1/rollout/churn", headers=op).json()["weight"] == 0
        switched = http.post("/api/v1/rollout/churn/advance?no_smoke=true", headers=op)
        assert switched.status_code == 200 and switched.json()["weight"] == 100

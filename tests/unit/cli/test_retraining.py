"""``modelward retrain`` as an operator runs it: the policies and their switches, a kill
switch needing a reason and a scope, and unknown policies and episodes named."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from modelward.config import Workspace, init_workspace
from modelward.session import Session
from tests.unit.registry.support import admin, cli

Run = Callable[..., tuple[int, str, str]]

POLICY = """
[[retraining.policies]]
name = "churn-retrain"
endpoint = "churn"
model = "churn"
pipeline = "churn"
"""


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.delenv("MODELWARD_TOKEN", raising=False)
    root = init_workspace(tmp_path / "ws")
    with (root / "modelward.toml").open("a") as f:
        f.write(POLICY)
    workspace = Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "ops"})
    with Session(workspace) as session:
        admin(session)

    def invoke(*args: str) -> tuple[int, str, str]:
        return cli(capsys, monkeypatch, workspace, "retrain", *args)

    return invoke


def test_the_policies_are_listed_with_their_switches(run: Run) -> None:
    code, out, _ = run("policies", "--json")
    assert code == 0
    shown = json.loads(out)
    assert [p["name"] for p in shown["policies"]] == ["churn-retrain"] and shown["switches"] == {}
    code, out, _ = run("pause", "churn-retrain", "--reason", "labels late this week")
    assert code == 0 and out.startswith("churn-retrain ") and "paused" in out
    switches = json.loads(run("policies", "--json")[1])["switches"]
    assert switches["churn-retrain"]["enabled"] is False
    assert switches["churn-retrain"]["reason"] == "labels late this week"
    assert "off" in run("policies")[1]


def test_pausing_every_policy_is_said_first(run: Run) -> None:
    assert run("pause", "--all", "--reason", "incident 42")[0] == 0
    out = run("policies")[1]
    assert "every policy is paused by" in out and "incident 42" in out
    assert run("resume", "--all", "--reason", "incident over")[0] == 0
    assert "every policy is paused" not in run("policies")[1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("pause", "--reason", "x"), "name a policy, or give --all (not both)"),
        (("pause", "churn-retrain", "--all", "--reason", "x"), "name a policy, or give --all"),
        (("pause", "churn-retrain"), "reason: say why the switch changes"),
    ],
)
def test_a_switch_needs_one_scope_and_a_reason(run: Run, args: tuple[str, ...], says: str) -> None:
    code, _, err = run(*args)
    assert code == 2 and says in err
    assert json.loads(run("policies", "--json")[1])["switches"] == {}


def test_unknown_policies_and_episodes_are_named(run: Run) -> None:
    code, _, err = run("history", "fraud-retrain")
    assert code != 0 and "fraud-retrain" in err
    code, _, err = run("show", "nope")
    assert code != 0 and "retraining episode 'nope' does not exist" in err
    assert json.loads(run("list", "--json")[1]) == []


def test_the_pause_message_shows_no_markup(run: Run) -> None:
    out = run("pause", "churn-retrain", "--reason", "labels late")[1]
    assert "[red]" not in out

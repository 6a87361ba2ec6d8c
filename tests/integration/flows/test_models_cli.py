"""The promotion example of docs/promotion-example.md, through the `modelward` CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.security.tokens import bootstrap_admin
from modelward.session import Session
from tests.unit.registry.support import (
    MLFLOW_WARNINGS,
    cli,
    git_commit_all,
    make_snapshot,
    quick_version,
)

pytestmark = MLFLOW_WARNINGS

GATES = json.dumps(
    [
        {"type": "lineage_complete"},
        {"type": "metric_beats_production", "metric": "auc", "delta": 0.01},
    ]
)


@pytest.fixture
def session(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    monkeypatch.delenv("MODELWARD_TOKEN", raising=False)
    git_commit_all(workspace.root)
    with Session(workspace) as s:
        bootstrap_admin(s)  # what `modelward init` does: "tester" is the local admin
        yield s


def test_promotion_example_through_the_cli(
    session: Session, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = session.workspace

    def mw(*args: str, token: str | None = None) -> tuple[int, str, str]:
        if token is None:
            monkeypatch.delenv("MODELWARD_TOKEN", raising=False)
        else:
            monkeypatch.setenv("MODELWARD_TOKEN", token)
        return cli(capsys, monkeypatch, ws, *args)

    train = make_snapshot(session)
    quick_version(session, "churn", auc=0.80, train=train)
    tokens = {}
    for name, role in (("alice", "approver"), ("dora", "developer")):
        assert mw("users", "add", name, "--role", role)[0] == 0
        code, out, _ = mw("tokens", "issue", name, "--days", "30", "--json")
        assert code == 0
        tokens[name] = json.loads(out)["token"]
    assert (
        mw(
            "models",
            "policy",
            "churn",
            "--stage",
            "Production",
            "--approvals",
            "1",
            "--gates",
            GATES,
        )[0]
        == 0
    )

    code, _, err = mw(
        "promote", "churn@1", "--to", "Production", "--reason", "first", token=tokens["dora"]
    )
    assert code == 1 and "approvals: 0 of 1" in err
    # every refusal exits 1, whether a check, an author rule or a role said no (docs/cli.md)
    code, _, err = mw("models", "approve", "churn@1")  # the local admin trained it
    assert code == 1 and "can never approve it" in err
    code, _, err = mw("models", "approve", "churn@1", token=tokens["dora"])
    assert code == 1 and "models:approve" in err
    assert mw("models", "approve", "churn@1", "--comment", "ok", token=tokens["alice"])[0] == 0
    code, out, _ = mw(
        "promote", "churn@1", "--to", "Production", "--reason", "first", token=tokens["dora"]
    )
    assert code == 0 and "None -> Production" in out

    quick_version(session, "churn", auc=0.801, train=train)
    assert mw("models", "approve", "churn@2", token=tokens["alice"])[0] == 0
    code, _, err = mw(
        "promote", "churn@2", "--to", "Production", "--reason", "newer", token=tokens["dora"]
    )
    assert code == 1 and "metric_beats_production" in err and "+0.001" in err
    code, out, _ = mw(
        "promote",
        "churn@2",
        "--to",
        "Production",
        "--reason",
        "hotfix",
        "--override",
        "incident 42",
    )
    assert code == 0 and "version 1 archived" in out and "incident 42" in out
    code, out, _ = mw("rollback", "churn", "--reason", "v2 misbehaves", "--json")
    assert code == 0 and json.loads(out)["version"] == 1

    # the model and one version at a glance: stages, policy, transitions
    code, out, _ = mw("models", "show", "churn", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["production_version"] == 1
    assert shown["approval_policy"]["Production"] == 1
    assert [v["ref"] for v in shown["versions"]] == ["churn@1", "churn@2"]
    code, out, _ = mw("models", "show", "churn")
    assert code == 0 and "Production churn@1" in out and "metric_beats_production" in out
    code, out, _ = mw("models", "show", "churn@2", "--json")
    kinds = [t["kind"] for t in json.loads(out)["transitions"]]
    assert code == 0 and "promote" in kinds
    code, out, _ = mw("models", "policy", "churn", "--json")
    assert code == 0 and json.loads(out)["approvals"]["Production"] == 1
    code, _, err = mw("models", "show", "ghost")
    assert code == 2 and "not registered" in err

    code, out, _ = mw("models", "list", "churn", "--json")
    assert {v["ref"]: v["stage"] for v in json.loads(out)} == {
        "churn@1": "Production",
        "churn@2": "Archived",
    }
    code, out, _ = mw("audit", "log", "--target", "model:churn@*", "--json")
    actions = [e["action"] for e in json.loads(out)]
    assert actions.count("model.promote") == 2 and "model.rollback" in actions
    assert "model.transition.refused" in actions
    assert mw("audit", "verify")[0] == 0
    code, out, _ = mw("tokens", "list", "dora", "--json")
    assert code == 0 and [t["identity"] for t in json.loads(out)] == ["dora"]
    assert mw("users", "disable", "dora")[0] == 0
    code, _, err = mw("models", "approve", "churn@2", token=tokens["dora"])
    assert code == 1 and "disabled" in err

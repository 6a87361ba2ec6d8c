"""The registry cannot be bypassed through MLflow: every change made with MLflow's own API
(an alias moved, a legacy stage set, a version deleted, a model renamed) is noticed once,
reported by `audit verify` (exit 1) and `models list`, never served, and repaired by
`models reconcile` with an audit entry. On SQLite and Postgres."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from modelward import registry
from modelward.config import Workspace
from modelward.errors import PermissionDenied
from modelward.registry import check_divergences, lifecycle, reconcile, tracking
from modelward.security import audit
from modelward.security.roles import Principal, Role
from modelward.serving.models import RegistryModelResolver
from modelward.session import Session
from tests.unit.registry.support import (
    MLFLOW_WARNINGS,
    admin,
    cli,
    git_commit_all,
    make_snapshot,
    quick_version,
)

pytestmark = MLFLOW_WARNINGS


@dataclass
class Gated:
    session: Session
    boss: Principal


@pytest.fixture
def gated(workspace: Workspace) -> Iterator[Gated]:
    """churn@1 in Production through its gates, churn@2 registered and never promoted."""
    git_commit_all(workspace.root)
    with Session(workspace) as session:
        boss = admin(session)
        train = make_snapshot(session, "customers")
        quick_version(session, "churn", auc=0.80, train=train)
        quick_version(session, "churn", auc=0.60, train=train)
        lifecycle.set_approval_policy(session, boss, "churn", "Production", 0)
        lifecycle.transition(session, boss, "churn@1", "Production", reason="gated release")
        yield Gated(session, boss)


def _client(session: Session):  # type: ignore[no-untyped-def]
    return tracking.client(session.workspace)


def _actions(session: Session, action: str) -> list[audit.AuditEntry]:
    with session.store.read() as conn:
        return list(audit.entries(conn, action=action))


def test_an_alias_moved_with_mlflows_api_is_caught_never_served_and_reconciled(
    gated: Gated,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = gated.session
    assert check_divergences(s) == []
    # the bypass of the issue: MLflow's own API points `production` at the un-gated version
    _client(s).set_registered_model_alias("churn", "production", "2")

    # the gateway resolves stages from modelward's record: the gated version keeps serving
    assert RegistryModelResolver(s).resolve("churn@production").version == "1"
    assert registry.get_version(s, "churn@production").version == 1

    with caplog.at_level(logging.WARNING, logger="modelward.registry"):
        [found] = check_divergences(s)
    assert (found.kind, found.subject, found.expected, found.found) == (
        "alias",
        "production",
        "1",
        "2",
    )
    assert "moved outside modelward" in found.message
    assert any("alias 'production' points at version 2" in r.message for r in caplog.records)
    check_divergences(s)  # alerted once, not on every look
    [noticed] = _actions(s, "model.divergence.noticed")
    assert noticed.target == "model:churn" and noticed.payload["found"] == "2"

    code, out, err = cli(capsys, monkeypatch, s.workspace, "audit", "verify")
    assert code == 1
    assert "registry bypassed" in err and "alias 'production' points at version 2" in err
    code, out, _ = cli(capsys, monkeypatch, s.workspace, "audit", "verify", "--json")
    body = json.loads(out)
    assert code == 1 and body["ok"] is False and body["registry_divergences"][0]["kind"] == "alias"
    code, out, err = cli(capsys, monkeypatch, s.workspace, "models", "list")
    assert code == 0 and "MLflow differs" in err and "models reconcile" in err
    code, out, _ = cli(capsys, monkeypatch, s.workspace, "models", "list", "--json")
    listed = {v["ref"]: v for v in json.loads(out)}
    assert listed["churn@1"]["stage"] == "Production"
    assert "moved outside modelward" in listed["churn@1"]["divergences"][0]

    code, out, _ = cli(capsys, monkeypatch, s.workspace, "models", "reconcile", "--dry-run")
    assert code == 0 and "would do: churn: alias 'production' set to version 1" in out
    assert _client(s).get_registered_model("churn").aliases["production"] == 2
    code, out, _ = cli(capsys, monkeypatch, s.workspace, "models", "reconcile")
    assert code == 0 and "done: churn: alias 'production' set to version 1" in out
    assert _client(s).get_registered_model("churn").aliases["production"] == 1
    [entry] = _actions(s, "model.reconciled")
    assert entry.actor == s.actor and entry.payload["still_diverging"] == []
    assert len(_actions(s, "model.divergence.cleared")) == 1
    code, out, _ = cli(capsys, monkeypatch, s.workspace, "audit", "verify")
    assert code == 0 and "intact" in out


def test_a_deleted_version_and_a_legacy_stage_are_reported_and_one_needs_a_person(
    gated: Gated, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = gated.session
    client = _client(s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # MLflow deprecates stages
        client.transition_model_version_stage("churn", "2", "Production")
    kinds = {d.kind: d for d in check_divergences(s)}
    assert set(kinds) == {"mlflow_stage"}
    assert "models:/churn/Production would load it" in kinds["mlflow_stage"].message
    client.delete_model_version("churn", "1")  # the Production version, gone from MLflow
    kinds = {d.kind: d for d in check_divergences(s)}
    assert set(kinds) == {"mlflow_stage", "version_deleted", "alias"}
    assert kinds["version_deleted"].subject == "1"

    code, _, err = cli(capsys, monkeypatch, s.workspace, "audit", "verify")
    assert code == 1 and "churn@1 (Production in modelward) was deleted in MLflow" in err
    code, out, err = cli(capsys, monkeypatch, s.workspace, "models", "reconcile")
    assert code == 1
    assert "cleared MLflow stage 'Production' of churn@2" in out
    assert "needs a person" in err and "cannot come back under number 1" in err
    assert client.get_model_version("churn", "2").current_stage == "None"
    # modelward's record is untouched: still the gated version, still served from its URI
    assert registry.get_version(s, "churn@production").version == 1
    assert {d.kind for d in check_divergences(s)} == {"version_deleted", "alias"}


def test_a_model_renamed_in_mlflow_is_no_new_model_and_gets_its_name_back(
    gated: Gated, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = gated.session
    _client(s).rename_registered_model("churn", "churn-renamed")
    code, out, _ = cli(capsys, monkeypatch, s.workspace, "models", "list", "--json")
    assert code == 0
    # the renamed versions are not "discovered" as a new model
    assert {v["model"] for v in json.loads(out)} == {"churn"}
    [found] = check_divergences(s)
    assert (found.kind, found.found) == ("model_renamed", "churn-renamed")
    code, out, _ = cli(capsys, monkeypatch, s.workspace, "models", "reconcile", "--json")
    report = json.loads(out)
    assert code == 0 and report["actions"] == [
        "renamed MLflow model 'churn-renamed' back to 'churn'"
    ]
    assert _client(s).get_registered_model("churn").aliases == {"production": 1}
    assert check_divergences(s) == []


def test_only_admins_reconcile(gated: Gated) -> None:
    with pytest.raises(PermissionDenied, match=r"models:override"):
        reconcile(gated.session, Principal("dev", Role.DEVELOPER))

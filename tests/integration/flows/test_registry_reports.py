"""What a version's lineage report answers and what a diff of two versions names, in Python and
through ``models lineage`` (table, --json, --against)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.registry import reports
from modelward.session import Session
from tests.unit.registry.support import (
    MLFLOW_WARNINGS,
    cli,
    git_commit_all,
    make_snapshot,
    quick_version,
)

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    git_commit_all(workspace.root)
    with Session(workspace) as s:
        yield s


def test_lineage_report_answers_every_design_question(session: Session) -> None:
    train = make_snapshot(session)
    version = quick_version(session, "churn", auc=0.8, train=train)
    report = reports.lineage_report(session, version.ref)
    for key in (
        "model_artifact",
        "datasets",
        "feature_views",
        "params",
        "metrics",
        "split",
        "environment",
        "git",
        "pipeline_run",
        "registered_by",
        "approvals",
        "stage",
        "transitions",
    ):
        assert key in report
    questions = {q for q, _ in reports.report_rows(report)}
    assert {
        "model artifact",
        "dataset snapshots",
        "feature views",
        "hyperparameters",
        "metrics (overall)",
        "metrics (segments)",
        "split logic",
        "split seed",
        "python",
        "locked packages",
        "git commit",
        "pipeline run",
        "registered by",
        "stage",
        "approvals for Production",
    } <= questions


def test_lineage_diff_names_what_changed(session: Session) -> None:
    train = make_snapshot(session)
    v1 = quick_version(session, "churn", auc=0.8, train=train, params={"max_depth": 3})
    v2 = quick_version(session, "churn", auc=0.9, train=train, params={"max_depth": 5}, seed=8)
    changes = {
        c["path"]: (c["old"], c["new"])
        for c in reports.lineage_diff(session, v1.ref, v2.ref)["changes"]
    }
    assert changes["params.max_depth"] == ("3", "5")
    assert changes["metrics.overall.auc"] == (0.8, 0.9)
    assert changes["split.seed"] == (7, 8)
    assert not any(path.startswith("datasets") for path in changes)


def test_lineage_cli_table_json_and_diff(
    session: Session, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    train = make_snapshot(session)
    v1 = quick_version(session, "churn", auc=0.8, train=train)
    v2 = quick_version(session, "churn", auc=0.85, train=train)
    ws = session.workspace
    code, out, _ = cli(capsys, monkeypatch, ws, "models", "lineage", v1.ref, "--json")
    assert code == 0 and json.loads(out)["datasets"][0]["snapshot_id"] == train.id
    code, out, _ = cli(capsys, monkeypatch, ws, "models", "lineage", v1.ref)
    assert code == 0 and "complete" in out and train.id in out
    code, out, _ = cli(
        capsys, monkeypatch, ws, "models", "lineage", v2.ref, "--diff", v1.ref, "--json"
    )
    assert code == 0
    assert "metrics.overall.auc" in {c["path"] for c in json.loads(out)["changes"]}
    code, _, err = cli(capsys, monkeypatch, ws, "models", "lineage", "churn@99")
    assert code == 2 and "no version 99" in err

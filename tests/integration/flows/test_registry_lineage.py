"""mw.run records lineage; mw.register attaches it; `models lineage` answers and diffs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from modelward import registry
from modelward.config import Workspace
from modelward.data import api as data
from modelward.errors import InputError, NotFound
from modelward.registry import register, reports, run, tracking
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


def test_mw_run_records_complete_lineage_and_register_attaches_it(session: Session) -> None:
    train = make_snapshot(session, "customers")
    commit = git_commit_all(session.workspace.root)
    with run("gbc", split="stratified 80/20 on y", seed=7, session=session) as r:
        df = data.read(train.ref, session=session).to_pandas()
        model = GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=7)
        model.fit(df[["a", "b", "c"]], df["y"])
        r.log_params({"n_estimators": 5, "max_depth": 2})
        r.log_metrics({"auc": 0.91}, dataset=train.ref)
        r.log_metrics({"auc": 0.85}, segment="new_customers")
        r.log_metrics({"auc": 0.8}, segment="plan=basic")  # not a valid MLflow key as is
        r.use_feature_view("customer_stats", "sha256:fv1")  # what the feature store notes
        r.log_model(model)
    version = register("churn", r, session=session)

    assert version.lineage_complete and version.lineage_missing == []
    lin = version.lineage
    assert lin["datasets"] == [
        {
            "snapshot_id": train.id,
            "name": "customers",
            "version": 1,
            "content_hash": train.content_hash,
        }
    ]
    assert lin["feature_views"] == [
        {"name": "customer_stats", "definition_hash": "sha256:fv1", "source_hashes": []}
    ]
    assert lin["params"] == {"n_estimators": "5", "max_depth": "2"}
    assert lin["metrics"]["overall"] == {"auc": 0.91}
    assert lin["metrics"]["segments"] == {
        "new_customers": {"auc": 0.85},
        "plan=basic": {"auc": 0.8},
    }
    assert lin["split"] == {"logic": "stratified 80/20 on y", "seed": 7}
    assert lin["git"]["commit"] == commit
    assert lin["environment"]["packages"]["scikit-learn"]
    assert lin["environment"]["packages_hash"].startswith("sha256:")
    assert lin["resources"]["cpu_seconds"] > 0 and lin["resources"]["wall_seconds"] > 0
    assert lin["resources"]["peak_memory_bytes"] > 0
    assert lin["author"] == "tester"

    # mirrored as MLflow tags, and the model loads back (skops with the narrow trust list)
    client = tracking.client(session.workspace)
    tags = client.get_run(r.run_id).data.tags
    assert tags["modelward.datasets"] == f"{train.id}@{train.content_hash}"
    assert tags["modelward.split.seed"] == "7"
    assert tags["modelward.feature_views"] == "customer_stats@sha256:fv1"
    assert tags["modelward.git.commit"] == commit
    with tracking.using_workspace(session.workspace):
        loaded = mlflow.sklearn.load_model(f"models:/churn/{version.version}")
    assert (loaded.predict(df[["a", "b", "c"]]) == model.predict(df[["a", "b", "c"]])).all()


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


def test_lineage_naming_a_snapshot_never_taken_is_refused(session: Session) -> None:
    from modelward import lineage as seam

    with pytest.raises(InputError, match="never taken") as info, run(session=session) as r:
        seam.note_dataset(seam.DatasetUse("0" * 20, "ghost", 1, "sha256:" + "0" * 64))
        r.log_metrics({"auc": 0.5})
    assert info.value.details["field"] == "lineage.datasets[0].snapshot_id"
    client = tracking.client(session.workspace)
    assert client.get_run(r.run_id).info.status == "FAILED"
    assert registry.list_versions(session) == []


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "churn\\x", "x" * 10_000, "", " churn"])
def test_model_names_with_path_characters_or_huge_are_refused(session: Session, bad: str) -> None:
    train = make_snapshot(session)
    with pytest.raises(InputError) as info:
        quick_version(session, bad, auc=0.5, train=train)
    assert info.value.details["field"] == "name"
    assert len(info.value.message) < 400


def test_unknown_versions_and_models_are_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="not registered"):
        registry.get_version(session, "nobody@1")
    train = make_snapshot(session)
    quick_version(session, "churn", auc=0.5, train=train)
    with pytest.raises(NotFound, match="no version 9"):
        registry.get_version(session, "churn@9")


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


def test_a_new_experiment_keeps_its_artifacts_in_the_workspace(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with run("x", experiment="churn-experiments", session=session) as r:
        r.log_metrics({"auc": 0.5})
    run_info = tracking.client(session.workspace).get_run(r.run_id).info
    assert run_info.artifact_uri.startswith(str(session.workspace.home / "mlartifacts"))
    assert not (elsewhere / "mlruns").exists()

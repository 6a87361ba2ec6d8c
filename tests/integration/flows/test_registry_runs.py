"""``mw.run`` records lineage and ``mw.register`` attaches it; a run naming a snapshot never
taken is refused; a new experiment keeps its artifacts in the workspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from modelward import registry
from modelward.config import Workspace
from modelward.data import api as data
from modelward.errors import InputError
from modelward.registry import register, run, tracking
from modelward.session import Session
from tests.unit.registry.support import (
    MLFLOW_WARNINGS,
    git_commit_all,
    make_snapshot,
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


def test_lineage_naming_a_snapshot_never_taken_is_refused(session: Session) -> None:
    from modelward import lineage as seam

    with pytest.raises(InputError, match="never taken") as info, run(session=session) as r:
        seam.note_dataset(seam.DatasetUse("0" * 20, "ghost", 1, "sha256:" + "0" * 64))
        r.log_metrics({"auc": 0.5})
    assert info.value.details["field"] == "lineage.datasets[0].snapshot_id"
    client = tracking.client(session.workspace)
    assert client.get_run(r.run_id).info.status == "FAILED"
    assert registry.list_versions(session) == []


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

"""The issue's plain-MLflow snippet, verbatim, with real fitted models, in a workspace.

* from the workspace root as ``python train.py`` (MLflow's default ``sqlite:///mlflow.db``
  is the workspace's embedded store);
* from anywhere as ``modelward run -- python train.py``, which is also how tree models
  (GradientBoosting, XGBoost) log with MLflow 3's skops default (docs/registry.md says why).

The registered version then shows in ``modelward models list`` as lineage incomplete.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from modelward.config import Workspace, init_workspace
from tests.unit.registry.support import MLFLOW_WARNINGS, cli, git_commit_all

pytestmark = [pytest.mark.slow, *MLFLOW_WARNINGS]

# The snippet from issue #3, verbatim.
SEED = """\
import mlflow
with mlflow.start_run():
    mlflow.log_params({"model_type": "xgboost", "max_depth": 6, "learning_rate": 0.05})
    mlflow.log_metrics({"auc": 0.912, "f1": 0.781})
    mlflow.sklearn.log_model(model, "model", registered_model_name="customer_churn_predictor")
"""

FIT = {
    "linear": "from sklearn.linear_model import LogisticRegression\n"
    "model = LogisticRegression().fit(X, y)\n",
    "gbc": "from sklearn.ensemble import GradientBoostingClassifier\n"
    "model = GradientBoostingClassifier(n_estimators=20, max_depth=3).fit(X, y)\n",
    "xgb": "from xgboost import XGBClassifier\n"
    "model = XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(X, y)\n",
}
TRUSTED = {
    "linear": None,
    "gbc": ["sklearn.tree._tree.Tree"],
    "xgb": ["xgboost.core.Booster", "xgboost.sklearn.XGBClassifier"],
}


@pytest.fixture
def plugin_path(tmp_path: Path) -> str:
    """PYTHONPATH making MLflow see modelward's run-context provider entry point.

    An installed modelward declares it in pyproject.toml; an editable checkout whose
    metadata predates it gets the same declaration from this folder.
    """
    group = importlib.metadata.entry_points(group="mlflow.run_context_provider")
    if any(ep.value.startswith("modelward.") for ep in group):
        return ""
    dist = tmp_path / "plugins" / "modelward_test_plugins-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: modelward-test-plugins\nVersion: 0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[mlflow.run_context_provider]\n"
        "modelward = modelward.registry.mlflow_plugin:ModelwardRunContext\n"
    )
    return str(dist.parent)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    from modelward.registry import tracking

    root = init_workspace(tmp_path / "ws")
    git_commit_all(root)
    workspace = Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "data-scientist"})
    tracking.ensure_store(workspace)  # what `modelward init` does for a workspace
    return workspace


def _script(ws: Workspace, kind: str) -> Path:
    path = ws.root / f"train_{kind}.py"
    path.write_text(
        "from sklearn.datasets import make_classification\n"
        "X, y = make_classification(n_samples=300, n_features=8, random_state=0)\n"
        + FIT[kind]
        + SEED
    )
    return path


def _env(plugin_path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELWARD_"))}
    env["MODELWARD_IDENTITY__USER"] = "data-scientist"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (plugin_path, env.get("PYTHONPATH")) if p)
    return env


def _trusted_types(ws: Workspace, version: int) -> list[str] | None:
    import mlflow

    from modelward.registry import tracking

    with tracking.using_workspace(ws):
        path = mlflow.artifacts.download_artifacts(f"models:/customer_churn_predictor/{version}")
    flavor = yaml.safe_load(Path(path, "MLmodel").read_text())["flavors"]["sklearn"]
    assert flavor["serialization_format"] == "skops"
    trusted: list[str] | None = flavor.get("skops_trusted_types")
    return trusted


def _list(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, ws: Workspace
) -> list[dict[str, object]]:
    code, out, err = cli(capsys, monkeypatch, ws, "--debug", "models", "list", "--json")
    assert code == 0, err
    listed: list[dict[str, object]] = json.loads(out)
    return listed


def test_plain_python_from_the_workspace_root_lands_in_the_workspace(
    ws: Workspace,
    plugin_path: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = _script(ws, "linear")
    done = subprocess.run(
        [sys.executable, script.name],
        cwd=ws.root,
        env=_env(plugin_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (ws.root / "mlflow.db").exists() and not (ws.root / "mlruns").exists()

    [version] = _list(capsys, monkeypatch, ws)
    assert (version["ref"], version["source"], version["lineage_complete"]) == (
        "customer_churn_predictor@1",
        "mlflow",
        False,
    )
    assert version["lineage_missing"] == [
        "dataset snapshots",
        "feature views",
        "split logic and seed",
        "locked package versions",
    ]
    assert version["created_by"] == "data-scientist"  # from the run-context plugin's tag
    code, out, _ = cli(capsys, monkeypatch, ws, "models", "list")
    assert code == 0 and "incomplete" in out and "snapshots" in out
    assert _trusted_types(ws, 1) is None


@pytest.mark.parametrize("kind", ["gbc", "xgb"])
def test_tree_models_through_modelward_run_from_anywhere(
    kind: str,
    ws: Workspace,
    plugin_path: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = _script(ws, kind)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for key, value in _env(plugin_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(elsewhere)
    code, _, err = cli(capsys, monkeypatch, ws, "run", "--", "python", str(script))
    assert code == 0, err[-2000:]
    assert not (elsewhere / "mlflow.db").exists()

    [version] = _list(capsys, monkeypatch, ws)
    assert version["ref"] == "customer_churn_predictor@1"
    assert version["lineage_complete"] is False
    assert "dataset snapshots" in version["lineage_missing"]
    # skops, trusting exactly the reviewed internals this model has, and it loads back
    assert _trusted_types(ws, 1) == TRUSTED[kind]
    import mlflow
    from sklearn.datasets import make_classification

    from modelward.registry import tracking

    x, _ = make_classification(n_samples=5, n_features=8, random_state=1)
    with tracking.using_workspace(ws):
        model = mlflow.sklearn.load_model("models:/customer_churn_predictor/1")
    assert len(model.predict(x)) == 5


def test_plain_python_cannot_log_a_tree_model_and_registers_nothing(
    ws: Workspace,
    plugin_path: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why `modelward run` exists: MLflow's save-time skops check, before any plugin runs."""
    script = _script(ws, "gbc")
    done = subprocess.run(
        [sys.executable, script.name],
        cwd=ws.root,
        env=_env(plugin_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode != 0
    assert "sklearn.tree._tree.Tree" in done.stderr
    assert _list(capsys, monkeypatch, ws) == []

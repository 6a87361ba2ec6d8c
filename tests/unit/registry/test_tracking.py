"""The embedded MLflow store: where it lives, made once from a template, or in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from modelward.config import Workspace, init_workspace
from modelward.registry import tracking
from tests.unit.registry.support import MLFLOW_WARNINGS

pytestmark = MLFLOW_WARNINGS


def _ws(tmp_path: Path, name: str) -> Workspace:
    return Workspace.open(init_workspace(tmp_path / name), environ={})


def _default_artifacts(ws: Workspace) -> str:
    conn = sqlite3.connect(ws.root / tracking.MLFLOW_DB)
    try:
        row = conn.execute(
            "SELECT artifact_location FROM experiments WHERE experiment_id = 0"
        ).fetchone()
    finally:
        conn.close()
    return str(row[0])


@pytest.mark.parametrize("cache_writable", [True, False])
def test_each_workspace_gets_its_own_store_pointing_at_its_own_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_writable: bool
) -> None:
    cache = tmp_path / "cache"
    if not cache_writable:
        cache.write_text("a file where the cache folder should be")
    monkeypatch.setenv("MODELWARD_CACHE_DIR", str(cache))
    first, second = _ws(tmp_path, "a"), _ws(tmp_path, "b")
    for ws in (first, second):
        tracking.ensure_store(ws)
        tracking.ensure_store(ws)  # idempotent
        assert tracking.tracking_uri(ws) == f"sqlite:///{ws.root / 'mlflow.db'}"
        assert _default_artifacts(ws) == str(ws.home / "mlartifacts" / "0")
    templates = (
        list((cache / "modelward" / "mlflow-templates").glob("*.db")) if cache_writable else []
    )
    assert len(templates) == (1 if cache_writable else 0)


def test_a_tracking_server_needs_no_local_store(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    ws = Workspace.open(root, environ={"MODELWARD_MLFLOW__TRACKING_URI": "http://mlflow:5000"})
    tracking.ensure_store(ws)
    assert not (root / "mlflow.db").exists()
    assert tracking.environ(ws)["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"

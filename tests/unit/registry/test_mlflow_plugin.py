"""The MLflow run-context plugin: a plain ``mlflow.start_run()`` inside a workspace gets
modelward's tags (author, Python, package hash, git state); outside one it gets none."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from modelward.config import init_workspace
from modelward.registry.environment import capture
from modelward.registry.mlflow_plugin import ModelwardRunContext


def test_outside_a_workspace_there_are_no_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELWARD_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    context = ModelwardRunContext()
    assert context.in_context() is False and context.tags() == {}


def test_inside_a_workspace_below_its_root_a_run_is_tagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = init_workspace(tmp_path / "ws")
    (root / "notebooks").mkdir()
    monkeypatch.delenv("MODELWARD_WORKSPACE", raising=False)
    monkeypatch.setenv("MODELWARD_IDENTITY__USER", "ada")
    monkeypatch.chdir(root / "notebooks")
    context = ModelwardRunContext()
    assert context.in_context() is True
    tags = context.tags()
    env = capture(root)
    assert tags == {
        "modelward.workspace": str(root),
        "modelward.author": "ada",
        "modelward.env.python": env.python,
        "modelward.env.packages_hash": env.packages_hash,
    }  # not a git checkout: no git tags


def test_a_git_checkout_adds_its_commit_and_whether_it_was_dirty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = init_workspace(tmp_path / "ws")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
            cwd=root,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "first")
    monkeypatch.setenv("MODELWARD_WORKSPACE", str(root))
    tags = ModelwardRunContext().tags()
    assert len(tags["modelward.git.commit"]) == 40 and tags["modelward.git.dirty"] == "False"
    (root / "train.py").write_text("print(1)\n")
    assert ModelwardRunContext().tags()["modelward.git.dirty"] == "True"


def test_a_broken_workspace_gives_no_tags_rather_than_failing_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = init_workspace(tmp_path / "ws")
    (root / "modelward.toml").write_text("this is [not toml\n")
    monkeypatch.setenv("MODELWARD_WORKSPACE", str(root))
    assert ModelwardRunContext().tags() == {}

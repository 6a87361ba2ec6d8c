"""The churn example project copied into a workspace: its files as a user would write them,
its data beside them, and its code committed so what it trains has complete lineage."""

from __future__ import annotations

import subprocess
from pathlib import Path

from modelward.config import init_workspace
from modelward.examples.project import ENDPOINT_FILE, commit_workspace, example_dir, prepare_example


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_project_is_copied_with_its_data_and_committed_clean(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", project="churn")
    commit = prepare_example(root, customers=200, months=3)
    for rel in ("pipelines.py", "features.py", ENDPOINT_FILE):
        assert (root / rel).read_bytes() == (example_dir() / rel).read_bytes()
    assert list((root / "data").iterdir())  # the data written beside the project
    assert commit is not None and commit == _git(root, "rev-parse", "HEAD")
    assert _git(root, "status", "--porcelain") == ""  # nothing left uncommitted or unignored
    tracked = _git(root, "ls-files").splitlines()
    assert "pipelines.py" in tracked and not any(p.startswith(".modelward/") for p in tracked)


def test_the_examples_data_is_kept_out_of_git(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", project="churn")
    prepare_example(root, customers=200, months=3)
    tracked = _git(root, "ls-files").splitlines()
    assert not any(p.startswith("data/") for p in tracked)


def test_committing_again_with_nothing_changed_makes_no_commit(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    (root / "train.py").write_text("print(1)\n")
    first = commit_workspace(root)
    assert commit_workspace(root) == first
    (root / "train.py").write_text("print(2)\n")
    second = commit_workspace(root)
    assert second is not None and second != first
    assert _git(root, "rev-list", "--count", "HEAD") == "2"

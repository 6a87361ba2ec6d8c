"""What a training run ran on: the packages hash depends only on the set of packages, and
the git state says which commit and whether the tree differed from it."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from modelward.registry.environment import capture, git_state, locked_packages, packages_hash


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def test_the_packages_hash_is_the_same_for_the_same_set_in_any_order() -> None:
    a = packages_hash({"numpy": "2.1.0", "pandas": "2.2.3"})
    b = packages_hash({"pandas": "2.2.3", "numpy": "2.1.0"})
    assert a == b and a.startswith("sha256:") and len(a) == len("sha256:") + 64
    assert packages_hash({"numpy": "2.1.1", "pandas": "2.2.3"}) != a
    assert packages_hash({"numpy": "2.1.0"}) != a


def test_installed_packages_are_listed_by_normalised_name() -> None:
    packages = locked_packages()
    assert list(packages) == sorted(packages)
    assert "pyarrow" in packages and "typing-extensions" in packages  # not typing_extensions
    assert all(name == name.lower() and "_" not in name for name in packages)


def test_a_folder_outside_git_has_no_commit_and_no_dirty_flag(tmp_path: Path) -> None:
    state = git_state(tmp_path)
    assert (state.commit, state.dirty) == (None, None)


def test_a_clean_tree_then_an_edited_one_then_a_new_file(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("print(1)\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "first")
    clean = git_state(tmp_path)
    assert clean.commit is not None and len(clean.commit) == 40 and clean.dirty is False
    (tmp_path / "train.py").write_text("print(2)\n")
    assert git_state(tmp_path) == type(clean)(clean.commit, True)
    _git(tmp_path, "checkout", "-q", "--", "train.py")
    (tmp_path / "notes.txt").write_text("new\n")
    assert git_state(tmp_path).dirty is True  # an untracked file is a difference too


def test_capture_records_python_and_a_hash_of_exactly_the_packages_it_lists(tmp_path: Path) -> None:
    env = capture(tmp_path)
    assert env.python == platform.python_version()
    assert env.packages_hash == packages_hash(env.packages)
    assert env.to_dict() == {
        "python": env.python,
        "packages": env.packages,
        "packages_hash": env.packages_hash,
    }

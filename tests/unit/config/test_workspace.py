"""A workspace: found from any folder below it, made with its home and secrets file at the
right modes, an existing one kept as it is, and who is acting named."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from modelward.config import Workspace, init_workspace
from modelward.config.workspace import find_root
from modelward.errors import ConfigError, InputError


def test_a_new_workspace_has_its_config_home_and_private_secrets(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "churn")
    assert (root / "modelward.toml").read_text().count('project = "churn"') == 1
    for sub in (".modelward", ".modelward/snapshots", ".modelward/tmp"):
        assert (root / sub).is_dir()
    secrets = root / ".modelward" / "secrets.toml"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "modelward.toml").stat().st_mode) == 0o644
    assert (root / ".modelward" / ".gitignore").read_text() == "*\n"
    assert ".modelward/" in (root / ".gitignore").read_text()
    assert not list(root.glob(".*.tmp")) and not list((root / ".modelward").glob(".*.tmp"))


def test_init_again_keeps_what_exists(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", project="first")
    (root / "modelward.toml").write_text('project = "edited"\n')
    (root / ".gitignore").write_text("mine\n")
    init_workspace(root, project="second")
    assert (root / "modelward.toml").read_text() == 'project = "edited"\n'
    assert (root / ".gitignore").read_text() == "mine\n"


def test_a_quote_in_the_project_name_cannot_break_the_config(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", project='my "quoted" project')
    ws = Workspace.open(root, environ={})
    assert ws.settings.project == "my quoted project"


def test_a_file_where_the_folder_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    with pytest.raises(InputError, match="exists and is not a folder"):
        init_workspace(tmp_path / "taken")


def test_the_root_is_found_from_a_folder_below_it_or_the_environment(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    deep = root / "src" / "models"
    deep.mkdir(parents=True)
    assert find_root(deep) == root
    assert Workspace.open(environ={"MODELWARD_WORKSPACE": str(deep)}).root == root
    with pytest.raises(ConfigError, match=r"no modelward\.toml found in .* or any parent folder"):
        find_root(tmp_path)


def test_the_actor_is_the_configured_user_or_the_login(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    named = Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "ada"})
    assert named.actor == "ada"
    assert Workspace.open(root, environ={}).actor  # the login name, never empty
    assert named.home == root / ".modelward" and named.tmp_dir == root / ".modelward" / "tmp"

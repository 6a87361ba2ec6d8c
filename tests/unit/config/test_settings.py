"""Configuration: TOML, environment overrides, and secrets that never leak."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.config import Workspace, init_workspace
from modelward.errors import ConfigError


def test_init_writes_config_home_and_private_secrets_file(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "proj", project="churn")
    assert (root / "modelward.toml").read_text().count('project = "churn"') == 1
    secrets = root / ".modelward" / "secrets.toml"
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert (root / ".modelward" / ".gitignore").read_text() == "*\n"


def test_init_keeps_an_existing_config(tmp_path: Path) -> None:
    root = init_workspace(tmp_path, project="first")
    init_workspace(tmp_path, project="second")
    assert 'project = "first"' in (root / "modelward.toml").read_text()


def test_a_new_workspace_logs_to_segments_and_an_older_one_keeps_sqlite(tmp_path: Path) -> None:
    env = {"MODELWARD_IDENTITY__USER": "ana"}
    new = Workspace.open(init_workspace(tmp_path / "new"), environ=env)
    assert new.settings.serving.prediction_log == {"type": "segments"}
    # a workspace made before the segments default has no [serving.prediction_log] table:
    # it keeps reading and writing the SQLite log it already has
    older = tmp_path / "older"
    older.mkdir()
    (older / "modelward.toml").write_text('project = "older"\n[store]\nurl = ""\n')
    assert Workspace.open(older, environ=env).settings.serving.prediction_log == {"type": "sqlite"}


def test_environment_overrides_toml(tmp_path: Path) -> None:
    root = init_workspace(tmp_path)
    ws = Workspace.open(
        root, environ={"MODELWARD_DATA__BATCH_ROWS": "4096", "MODELWARD_IDENTITY__USER": "ana"}
    )
    assert ws.settings.data.batch_rows == 4096
    assert ws.actor == "ana"


def test_database_url_shortcut_selects_team_backend(tmp_path: Path) -> None:
    root = init_workspace(tmp_path)
    ws = Workspace.open(root, environ={"MODELWARD_DATABASE_URL": "postgresql://u@h/db"})
    assert ws.settings.store.url == "postgresql://u@h/db"
    assert ws.settings.backend == "team"


def test_found_from_a_subfolder(tmp_path: Path) -> None:
    root = init_workspace(tmp_path)
    sub = root / "notebooks" / "deep"
    sub.mkdir(parents=True)
    assert Workspace.open(sub, environ={}).root == root


def test_no_workspace_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="modelward init"):
        Workspace.open(tmp_path, environ={})


def test_unknown_key_names_the_key(tmp_path: Path) -> None:
    root = init_workspace(tmp_path)
    (root / "modelward.toml").write_text('[store]\nurll = "x"\n')
    with pytest.raises(ConfigError, match=r"store\.urll"):
        Workspace.open(root, environ={})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    root = init_workspace(tmp_path)
    (root / "modelward.toml").write_text("project = \n")
    with pytest.raises(ConfigError, match=r"modelward\.toml: not valid TOML"):
        Workspace.open(root, environ={})


def test_password_in_toml_is_refused_without_echoing_it(tmp_path: Path) -> None:
    root = init_workspace(tmp_path)
    (root / "modelward.toml").write_text('[store]\nurl = "postgresql://u:hunter2@h/db"\n')
    with pytest.raises(ConfigError) as info:
        Workspace.open(root, environ={})
    assert "hunter2" not in str(info.value)
    assert "MODELWARD_DATABASE_PASSWORD" in str(info.value)


def test_secrets_come_from_file_then_environment_and_never_show(tmp_path: Path) -> None:
    root = init_workspace(tmp_path)
    (root / ".modelward" / "secrets.toml").write_text('database_password = "from-file"\n')
    ws = Workspace.open(root, environ={})
    assert ws.secrets.database_password is not None
    assert ws.secrets.database_password.get_secret_value() == "from-file"
    assert "from-file" not in repr(ws)
    ws = Workspace.open(root, environ={"MODELWARD_DATABASE_PASSWORD": "from-env"})
    assert ws.secrets.database_password is not None
    assert ws.secrets.database_password.get_secret_value() == "from-env"


def test_unknown_secret_names_key_not_value(tmp_path: Path) -> None:
    root = init_workspace(tmp_path)
    (root / ".modelward" / "secrets.toml").write_text('api_tokn = "s3cr3t-value"\n')
    with pytest.raises(ConfigError) as info:
        Workspace.open(root, environ={})
    assert "api_tokn" in str(info.value)
    assert "s3cr3t-value" not in str(info.value)


def test_a_password_given_as_a_query_parameter_is_refused_and_never_echoed(
    tmp_path: Path,
) -> None:
    root = init_workspace(tmp_path)
    (root / "modelward.toml").write_text('[store]\nurl = "postgresql://u@h/db?password=hunter2"\n')
    with pytest.raises(ConfigError) as info:
        Workspace.open(root, environ={})
    assert "hunter2" not in str(info.value) and "?password=" in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@127.0.0.1:1/db",
        "postgresql://u@127.0.0.1:1/db?password=hunter2",
        "postgresql://u@127.0.0.1:1/db?sslmode=disable&PASSWORD=hunter2",
    ],
)
def test_an_unreachable_database_message_masks_every_password(tmp_path: Path, url: str) -> None:
    """A `?password=` in MODELWARD_DATABASE_URL was once echoed in the error."""
    from modelward.errors import StoreUnavailable
    from modelward.store import open_store

    root = init_workspace(tmp_path)
    ws = Workspace.open(
        root, environ={"MODELWARD_DATABASE_URL": url, "MODELWARD_STORE__CONNECT_TIMEOUT_S": "2"}
    )
    with pytest.raises((StoreUnavailable, ConfigError)) as info:
        open_store(ws)
    text = f"{info.value} {info.value.details}"  # type: ignore[attr-defined]
    assert "hunter2" not in text and "***" in text, text

"""``modelward init`` as a user runs it: a workspace with its metadata and MLflow stores and
a local admin whose token only the owner can read; run again, it keeps that token."""

from __future__ import annotations

import importlib
import stat
from pathlib import Path

import pytest

from modelward.cli import main
from modelward.config import Workspace
from modelward.security import Principal, Role, list_identities
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS

pytestmark = MLFLOW_WARNINGS


def _init(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    importlib.import_module("modelward.cli.app")._register()
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["init", *args])
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_init_makes_the_stores_and_a_local_admin_with_a_private_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("MODELWARD_DATABASE_URL", "MODELWARD_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MODELWARD_WORKSPACE", str(tmp_path / "elsewhere"))  # ignored by init
    monkeypatch.setenv("MODELWARD_IDENTITY__USER", "ada")
    root = tmp_path / "churn"
    code, out, _ = _init([str(root), "--project", "churn"], capsys)
    assert code == 0
    token = root / ".modelward" / "token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert (root / ".modelward" / "metadata.db").exists() and (root / "mlflow.db").exists()
    assert f"admin:     ada; API token saved to {token}" in out
    assert token.read_text().strip() not in out  # the token is shown nowhere else
    with Session(Workspace.open(root, environ={})) as session:
        listed = list_identities(session, Principal("ada", Role.ADMIN))
    assert [(i.name, i.role.value) for i in listed] == [("ada", "admin")]

    first = token.read_text()
    code, out, _ = _init([str(root)], capsys)
    assert code == 0 and token.read_text() == first
    assert "admin:" not in out  # no new admin, no new token


def test_init_in_a_file_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("x")
    code, out, err = _init([str(tmp_path / "taken")], capsys)
    assert (code, out) == (2, "")
    assert "exists and is not a folder" in err

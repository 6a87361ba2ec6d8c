"""``modelward run -- COMMAND``: the command runs with MLflow pointed at the workspace's
store, its exit code is the command's, and a command that does not exist is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelward.config import Workspace
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, admin, cli

pytestmark = MLFLOW_WARNINGS

SCRIPT = """
import json, os, sys
print(json.dumps({k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MODELWARD_RUN")}))
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def workspace_with_admin(sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.delenv("MODELWARD_TOKEN", raising=False)
    with Session(sqlite_workspace) as session:
        admin(session)
    return sqlite_workspace


def test_the_command_sees_the_workspaces_mlflow_store_and_its_exit_code_is_kept(
    workspace_with_admin: Workspace,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    # capfd: the command is another process, writing to the real stdout
    code, out, _ = cli(
        capfd, monkeypatch, workspace_with_admin, "run", "--", "python", str(script), "3"
    )
    assert code == 3
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["MODELWARD_RUN"] == "1"
    assert seen["MLFLOW_TRACKING_URI"] == f"sqlite:///{workspace_with_admin.root / 'mlflow.db'}"


def test_a_command_that_does_not_exist_is_named(
    workspace_with_admin: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = cli(capsys, monkeypatch, workspace_with_admin, "run", "--", "no-such-program-x")
    assert code == 2 and "command: 'no-such-program-x' not found" in err

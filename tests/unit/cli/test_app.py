"""The ``modelward`` command's error handling: each modelward error is its exit code with
one clean line (or JSON with ``--json``), a usage error is 2 with the parser's message, and
no traceback reaches a user."""

from __future__ import annotations

import json

import pytest

from modelward.cli import main
from modelward.config import Workspace
from modelward.errors import NotFound
from tests.unit.registry.support import cli


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_help_lists_the_command_groups(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    for group in ("data", "features", "models", "endpoints", "rollout", "monitor"):
        assert group in out


def test_a_usage_error_is_exit_2_with_the_parsers_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(capsys, "no-such-command")
    assert code == 2 and out == ""
    assert "No such command 'no-such-command'" in err and "Traceback" not in err


def test_a_modelward_error_is_its_exit_code_and_one_line_or_json(
    sqlite_workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = cli(capsys, monkeypatch, sqlite_workspace, "data", "show", "nothing@1")
    assert code == NotFound.exit_code and out == ""  # the one code errors.py maps it to
    assert err.startswith("error: ") and "nothing" in err and "Traceback" not in err
    code, out, err = cli(
        capsys, monkeypatch, sqlite_workspace, "data", "show", "nothing@1", "--json"
    )
    assert code == NotFound.exit_code
    shown = json.loads(out)
    assert shown["error"] == "NotFound" and "nothing" in shown["message"]

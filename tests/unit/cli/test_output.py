"""How the CLI prints: text from data is never read as Rich markup, ``--json`` is plain JSON
with dates and paths as text, and a printed hint names the command as it can be typed."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelward.cli import output


def test_a_cell_or_value_that_looks_like_markup_is_printed_literally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    output.print_table(
        "runs [x]", ["pattern"], [["[a-z0-9._]"], [None], [output.styled("ok", "green")]]
    )
    output.say("contract {} refused [bold]{}[/bold]", "[red]x[/red]", "[/]")
    shown = capsys.readouterr().out
    assert "runs [x]" in shown and "[a-z0-9._]" in shown
    assert "[red]x[/red]" in shown and "[/]" in shown
    assert "[bold]" not in shown  # the template's own markup is markup


def test_json_output_is_plain_with_dates_paths_and_records_as_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Record:
        def to_dict(self) -> dict[str, int]:
            return {"n": 1}

    at = datetime(2026, 6, 10, 12, tzinfo=UTC)
    output.print_json({"at": at, "path": Path("/tmp/x"), "record": Record()})
    assert json.loads(capsys.readouterr().out) == {
        "at": "2026-06-10T12:00:00+00:00",
        "path": "/tmp/x",
        "record": {"n": 1},
    }


def test_the_command_prefix_is_modelward_unless_started_by_a_path_not_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["pytest"])
    assert output.command_prefix() == "modelward"
    program = tmp_path / ".venv" / "bin" / "modelward"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(sys, "argv", [str(program)])
    assert output.command_prefix() == os.path.join(".venv", "bin", "modelward")
    monkeypatch.setenv("PATH", str(program.parent))
    assert output.command_prefix() == "modelward"  # on PATH and the same program


def test_durations_print_one_way() -> None:
    assert output.duration(65) == "1m5s" and output.duration(None) == "-"

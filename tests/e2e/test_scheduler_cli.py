"""``modelward pipelines schedule`` and ``modelward scheduler --once`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelward.cli import main

PIPELINES_PY = """
from modelward.pipelines import Param, pipeline, step

@step
def numbers(n: int) -> list[int]:
    return list(range(n))

@step
def total(numbers: list[int]) -> int:
    return sum(numbers)

@step
def check(total: int, limit: int) -> int:
    if total > limit:
        raise RuntimeError(f"total {total} is above the limit {limit}")
    return total

demo = pipeline("demo", [numbers, total, check],
                params={"n": Param(int, default=5, help="how many"), "limit": 100},
                description="Adds numbers up.")
"""


pytestmark = pytest.mark.slow  # whole flows through the real CLI


def _register_commands() -> None:
    import importlib

    importlib.import_module("modelward.cli.app")._register()  # what main does first


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    _register_commands()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def ws(cli_workspace: Path) -> Path:
    root = cli_workspace
    (root / "pipelines.py").write_text(PIPELINES_PY)
    return root


def test_schedule_and_scheduler_once(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pipelines", "schedule", "demo", "0 3 * * *", "-p", "n=3")
    assert code == 0 and "scheduled demo" in out
    code, out, _ = run(capsys, "pipelines", "schedules", "--json")
    assert code == 0 and json.loads(out)[0]["params"] == {"n": 3, "limit": 100}
    # nothing is due yet: the schedule was made after the latest 03:00 tick
    code, out, _ = run(capsys, "scheduler", "--once", "-e", "inline")
    assert code == 0 and "tick" not in out

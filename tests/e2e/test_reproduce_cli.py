"""``modelward reproduce`` as a user runs it: a version that does not exist is one clear
error."""

from __future__ import annotations

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


def test_reproduce_of_an_unknown_version_is_a_clear_error(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "reproduce", "churn@1")
    assert code == 2 and "model 'churn' is not registered" in err
    code, _, err = run(capsys, "reproduce", "churn@1", "--tolerance", "-1")
    assert code == 2 and "tolerance" in err

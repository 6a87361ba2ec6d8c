"""``modelward reproduce`` as a user runs it: a version that does not exist is one clear
error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_pipelines_cli import run, ws

pytestmark = pytest.mark.slow  # whole flows through the real CLI
__all__ = ["ws"]  # the fixture: a workspace with the demo pipeline


def test_reproduce_of_an_unknown_version_is_a_clear_error(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "reproduce", "churn@1")
    assert code == 2 and "model 'churn' is not registered" in err
    code, _, err = run(capsys, "reproduce", "churn@1", "--tolerance", "-1")
    assert code == 2 and "tolerance" in err

"""``modelward pipelines schedule`` and ``modelward scheduler --once`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_pipelines_cli import run, ws

pytestmark = pytest.mark.slow  # whole flows through the real CLI
__all__ = ["ws"]  # the fixture: a workspace with the demo pipeline


def test_schedule_and_scheduler_once(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pipelines", "schedule", "demo", "0 3 * * *", "-p", "n=3")
    assert code == 0 and "scheduled demo" in out
    code, out, _ = run(capsys, "pipelines", "schedules", "--json")
    assert code == 0 and json.loads(out)[0]["params"] == {"n": 3, "limit": 100}
    # nothing is due yet: the schedule was made after the latest 03:00 tick
    code, out, _ = run(capsys, "scheduler", "--once", "-e", "inline")
    assert code == 0 and "tick" not in out

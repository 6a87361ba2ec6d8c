"""``modelward loadtest``: its refusals before any load, and one row of its table.

(The load itself, its statistics and the recommendation are in
tests/unit/readiness/test_loadtest.py and test_sizing.py; a run against a served endpoint
in tests/e2e/test_readiness_flow.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.cli.loadtest import _row
from modelward.config import Workspace, init_workspace
from modelward.errors import EXIT_USAGE
from modelward.readiness import LoadResult
from tests.unit.registry.support import cli


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.delenv("MODELWARD_TOKEN", raising=False)
    return Workspace.open(
        init_workspace(tmp_path / "ws"), environ={"MODELWARD_IDENTITY__USER": "ops"}
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--recommend", "--rate", "50", "--url", "http://gateway:8700"], "--url"),
        (["--recommend"], "--rate"),
    ],
)
def test_recommend_refuses_a_url_or_a_missing_rate_before_any_load(
    workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    named: str,
) -> None:
    code, out, err = cli(capsys, monkeypatch, workspace, "loadtest", "churn", *args)
    assert code == EXIT_USAGE
    assert f"{named}: --recommend" in out + err
    assert "loading churn" not in err  # no load was started


def result(**kw: object) -> LoadResult:
    fields: dict[str, object] = {
        "endpoint": "churn",
        "version": "churn@3",
        "concurrency": 4,
        "duration_s": 2.0,
        "workers": 2,
        "batching": True,
        "rate": None,
        "requests": 400,
        "errors": 2,
        "late": 0,
        "p50_ms": 3.14159,
        "p95_ms": 8.0,
        "p99_ms": 12.25,
        "mean_ms": 4.0,
        "throughput_rps": 199.6,
        "latency_budget_ms": 50.0,
    }
    return LoadResult(**(fields | kw))  # type: ignore[arg-type]


def test_a_row_rounds_latencies_to_a_tenth_and_errors_to_a_hundredth_of_a_percent() -> None:
    row = _row(result(), ("0.00012",))
    assert row[:8] == ("churn@3", "workers=2 batching=on", 4, "3.1", "8.0", "12.2", "200", "0.50%")
    assert "meets" in str(row[8]) and row[9] == "0.00012"


def test_a_row_says_misses_when_over_budget_and_dashes_an_unknown_version() -> None:
    row = _row(result(p99_ms=51.0, version=None))
    assert row[0] == "-" and "misses" in str(row[8])

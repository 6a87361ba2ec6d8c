"""The quickstart's pipeline part run twice in one workspace (issue 16's first defect).

The first time: a model with complete lineage (the quickstart commits its project to git)
passes its gates into Production with no override, and a month of new data retrains. The
second time: nothing is trained, nothing is registered, and the story it prints is true.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.cli.quickstart import run_quickstart_pipeline
from modelward.config import Workspace, init_workspace
from modelward.examples import prepare_example
from modelward.registry import list_versions
from modelward.registry.lifecycle import history
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS

pytestmark = [pytest.mark.slow, *MLFLOW_WARNINGS]
CUSTOMERS = 1_000


def _quickstart(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[object], str]:
    """What `modelward quickstart` does after its data part, on a small example."""
    prepare_example(root, customers=CUSTOMERS)
    capsys.readouterr()
    with Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"})) as s:
        runs = run_quickstart_pipeline(s, executor="local", customers=CUSTOMERS)
    return list(runs), capsys.readouterr().out


def _trained(run: object) -> list[str]:
    return [
        s.step
        for s in run.steps  # type: ignore[attr-defined]
        if s.step.startswith("train_") and s.status == "succeeded"
    ]


def test_the_quickstart_twice_trains_and_registers_nothing_the_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = init_workspace(tmp_path / "qs", project="churn-quickstart")
    runs, text = _quickstart(root, capsys)
    session = Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"}))
    with session:
        first = {v.ref: v for v in list_versions(session, "churn")}
        champion = next(v for v in first.values() if v.stage == "Production")
        assert champion.lineage_complete, champion.lineage_missing
        [promoted] = [t for t in history(session, champion.ref) if t["to_stage"] == "Production"]
        assert promoted["override_reason"] is None  # the gate passed on its own
    assert "first model, no champion yet" in text and "promoted to Production" in text
    assert _trained(runs[0]) == ["train_baseline", "train_challenger"]
    assert _trained(runs[1]) == ["train_baseline", "train_challenger"]  # new data: retrained
    assert _trained(runs[2]) == []
    assert len(first) == 2

    again, text = _quickstart(root, capsys)
    with session:
        assert {v.ref: v.stage for v in list_versions(session, "churn")} == {
            ref: v.stage for ref, v in first.items()
        }
    assert [_trained(r) for r in again] == [[], [], []]
    assert "no champion yet" not in text
    assert f"the first month again, champion {champion.ref}" in text
    assert "registered nothing new" in text and "trained nothing" in text
    assert "verdict: identical" in text

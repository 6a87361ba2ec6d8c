"""The CPU budget is checked while a run goes, not only when it ends: a run past it stops
before its next step, its episode closed with the reason, nothing registered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward import security
from modelward.config import Workspace
from modelward.pipelines import get_run
from modelward.retraining import policies_of, trigger_by_hand
from modelward.security import Role
from modelward.session import Session
from tests.unit.registry.support import principal

#: the first step spends CPU (measured by the executor, as every step's is); the second,
#: the "register" step, leaves a file behind if it ever runs
PIPELINES = """
import time
from pathlib import Path

from modelward.pipelines import pipeline, step


@step(cache=False)
def burn() -> float:
    started = time.process_time()
    while time.process_time() - started < 0.3:
        pass
    return time.process_time() - started


@step(side_effects=True)
def register(burn: float) -> dict:
    Path("registered.marker").write_text("a version would be registered here")
    return {"version": "burner@1", "accepted": True}


burner = pipeline("burner", [burn, register])
"""

POLICY = """
[pipelines]
executor = "inline"

[[retraining.policies]]
name = "burner"
endpoint = "churn"
model = "churn"
pipeline = "burner"

[retraining.policies.budget]
max_cpu_s = 0.1
"""


@pytest.fixture
def session(workspace_dir: Path, workspace_env: dict[str, str]) -> Iterator[Session]:
    (workspace_dir / "modelward.toml").write_text(POLICY)
    (workspace_dir / "pipelines.py").write_text(PIPELINES)
    with Session(Workspace.open(workspace_dir, environ=workspace_env)) as opened:
        yield opened


def test_a_run_over_its_cpu_budget_stops_before_registering(
    session: Session, workspace_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace_dir)
    operator = principal(session, "olga", Role.OPERATOR)
    episode = trigger_by_hand(session, operator, "burner", "new pricing")
    assert (episode.decision, episode.state) == ("retrain", "stopped"), episode.reason
    assert episode.reason.startswith("stopped over the CPU budget:"), episode.reason
    assert "after step 'burn'" in episode.reason and "nothing was registered" in episode.reason
    assert episode.closed_at is not None and episode.candidate is None
    assert episode.cpu_s >= 0.3
    # the pipeline's own record says where it stopped: the register step never ran
    run = get_run(session, episode.run_id or "")
    assert run.status == "interrupted"
    assert [(s.step, s.status) for s in run.steps] == [
        ("burn", "succeeded"),
        ("register", "skipped"),
    ]
    assert not (workspace_dir / "registered.marker").exists()
    with session.store.read() as conn:
        stopped = [e for e in security.entries(conn) if e.action == "retraining.stopped"]
    assert [e.payload["state"] for e in stopped] == ["stopped"]
    # what it spent counts: the next trigger today waits for the budget
    (policy,) = policies_of(session)
    again = trigger_by_hand(session, operator, policy.name, "try again")
    assert (again.decision, again.state) == ("wait", "waited")
    assert again.reason.endswith("CPU s today, at most 0.1"), again.reason

"""Schedules on SQLite and Postgres: two schedulers never start the same tick twice."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime, timedelta

import pytest

from modelward.config import Workspace
from modelward.errors import Conflict, InputError
from modelward.pipelines import list_runs
from modelward.pipelines.scheduler import run_due
from modelward.pipelines.schedules import claim_tick, create_schedule, list_schedules
from modelward.session import Session
from tests.unit.pipelines import sample

TICKS = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i) for i in range(40)]


@pytest.fixture
def session(workspace: Workspace) -> Session:
    s = Session(workspace)
    yield s  # type: ignore[misc]
    s.close()


def test_schedule_checks_cron_and_params(session: Session) -> None:
    with pytest.raises(InputError, match="not a valid cron expression"):
        create_schedule(session, sample.arith, "0 99 * * *")
    with pytest.raises(InputError, match="parameter 'n': expected int"):
        create_schedule(session, sample.arith, "0 3 * * *", {"n": "many"}, params_from_text=True)
    made = create_schedule(session, sample.arith, "0 3 * * *", {"n": "4"}, params_from_text=True)
    assert made.params == {"n": 4, "scale": 1.0}
    with pytest.raises(Conflict, match="already scheduled"):
        create_schedule(session, sample.arith, "0  3 * * *", {"n": 4})
    assert [s.cron for s in list_schedules(session)] == ["0 3 * * *"]


def _claim_all(
    root: str, env: dict[str, str], schedule_id: int, who: str, barrier: object
) -> list[int]:
    ws = Workspace.open(root, environ=env)
    with Session(ws) as s:
        s.store  # noqa: B018 - connect before the barrier so both start together
        barrier.wait()  # type: ignore[attr-defined]
        return [i for i, t in enumerate(TICKS) if claim_tick(s, schedule_id, t, who) is not None]


def _run_due(root: str, env: dict[str, str], who: str, barrier: object, now: datetime) -> list[str]:
    ws = Workspace.open(root, environ=env)
    with Session(ws) as s:
        s.store  # noqa: B018
        barrier.wait()  # type: ignore[attr-defined]
        outcomes = run_due(
            s,
            now=now,
            claimer=who,
            pipelines={"arith": sample.arith},
            executor="inline",
        )
        return [o.state for o in outcomes]


def test_two_schedulers_racing_claim_each_tick_once(
    session: Session, workspace: Workspace, workspace_env: dict[str, str]
) -> None:
    sched = create_schedule(session, sample.arith, "* * * * *")
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            a, b = pool.starmap(
                _claim_all,
                [(str(workspace.root), workspace_env, sched.id, w, barrier) for w in ("a", "b")],
            )
    assert set(a).isdisjoint(b)
    assert sorted(a + b) == list(range(len(TICKS)))


def test_racing_schedulers_start_one_run_per_tick(
    session: Session, workspace: Workspace, workspace_env: dict[str, str]
) -> None:
    create_schedule(session, sample.arith, "* * * * *", {"n": 3})
    # one instant for both schedulers and the second pass: each reading its own clock, two
    # processes on a busy machine could fall either side of a minute, i.e. of a tick
    now = datetime.now(UTC) + timedelta(minutes=2)
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            states = pool.starmap(
                _run_due,
                [(str(workspace.root), workspace_env, w, barrier, now) for w in ("a", "b")],
            )
    assert sorted(s for pair in states for s in pair) == ["started", "taken"]
    runs = list_runs(session, "arith")
    assert len(runs) == 1 and runs[0].trigger == "schedule" and runs[0].ok
    # a second pass at the same time finds the tick taken
    again = run_due(
        session,
        now=now,
        pipelines={"arith": sample.arith},
        executor="inline",
    )
    assert [o.state for o in again] == ["taken"]

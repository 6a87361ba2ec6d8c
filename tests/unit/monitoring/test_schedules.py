"""Scheduled monitor runs: each tick stored once, on SQLite and Postgres, racing or not."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from modelward import security
from modelward.config import Workspace
from modelward.errors import ConfigError, Conflict
from modelward.monitoring import MonitorTick, run_due_monitors, run_monitor
from modelward.monitoring.tables import monitor_runs
from modelward.session import Session

NOW = datetime(2026, 3, 1, 10, 17, tzinfo=UTC)
TICK = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _scheduled(workspace_dir: Path, env: dict[str, str]) -> Workspace:
    (workspace_dir / "modelward.toml").write_text(
        '[[monitoring.schedules]]\nendpoint = "churn"\ncron = "0 * * * *"\nwindow_s = 1800\n'
    )
    return Workspace.open(workspace_dir, environ=env)


def _runs(session: Session) -> int:
    with session.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(monitor_runs)).scalar_one())


def test_a_bad_cron_is_refused_when_the_settings_are_read(workspace_dir: Path) -> None:
    (workspace_dir / "modelward.toml").write_text(
        '[[monitoring.schedules]]\nendpoint = "churn"\ncron = "0 * * *"\n'
    )
    with pytest.raises(ConfigError, match=r"monitoring\.schedules\.0\.cron: .*5 fields"):
        Workspace.open(workspace_dir, environ={"MODELWARD_IDENTITY__USER": "t"})


def test_the_latest_tick_runs_once_over_the_window_ending_at_it(
    workspace_dir: Path, workspace_env: dict[str, str]
) -> None:
    with Session(_scheduled(workspace_dir, workspace_env)) as session:
        first = run_due_monitors(session, now=NOW)
        assert [(o.state, o.tick) for o in first] == [("started", TICK)]
        assert first[0].run
        again = run_due_monitors(session, now=NOW + timedelta(minutes=30))
        assert [o.state for o in again] == ["taken"]  # same hour, same tick
        with session.store.read() as conn:
            row = conn.execute(select(monitor_runs)).one()
        assert (row.window_start, row.window_end, row.tick) == (
            TICK - timedelta(minutes=30),
            TICK,
            TICK,
        )
        assert row.created_by == "scheduler"
        # the same tick by hand: refused, and neither a run nor an audit entry is added
        with session.store.read() as conn:
            audited = len(list(security.entries(conn)))
        with pytest.raises(Conflict, match="already has a monitor run for the tick"):
            run_monitor(session, "churn", window=timedelta(minutes=30), end=TICK, tick=TICK)
        with session.store.read() as conn:
            assert len(list(security.entries(conn))) == audited
        assert _runs(session) == 1
        # runs by hand carry no tick and never collide with each other
        run_monitor(session, "churn", end=TICK)
        run_monitor(session, "churn", end=TICK)
        assert _runs(session) == 3
        nxt = run_due_monitors(session, now=NOW + timedelta(hours=1))
        assert [(o.state, o.tick) for o in nxt] == [("started", TICK + timedelta(hours=1))]


def test_two_schedulers_racing_store_one_run_per_tick(
    workspace_dir: Path, workspace_env: dict[str, str]
) -> None:
    workspace = _scheduled(workspace_dir, workspace_env)
    barrier = threading.Barrier(2)
    outcomes: list[MonitorTick] = []

    def scheduler() -> None:
        with Session(workspace) as session:
            barrier.wait(timeout=30)
            outcomes.extend(run_due_monitors(session, now=NOW))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(o.state for o in outcomes) == ["started", "taken"]
    with Session(workspace) as session:
        assert _runs(session) == 1
        with session.store.read() as conn:
            runs = [e for e in security.entries(conn) if e.action == "monitoring.run"]
        assert len(runs) == 1

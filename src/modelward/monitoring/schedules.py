"""Scheduled monitor runs (``[[monitoring.schedules]]``), each tick exactly once.

``modelward scheduler`` calls :func:`run_due_monitors` beside the pipeline schedules. For
each schedule it takes the latest tick at or before now and runs the monitor over the
window ending at that tick, recording the tick with the run. The unique index on
``(endpoint, tick)`` of ``monitor_runs`` is the claim: when several schedulers compute the
same tick, exactly one commits; the others' transactions, alert changes included, roll
back and nothing of theirs is sent. A tick already stored is skipped before any work, so
the race costs work only when two schedulers look within the same run's duration. Ticks
missed while no scheduler ran are not replayed, except the latest one (as for pipelines).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from modelward.cron import latest_tick
from modelward.errors import Conflict
from modelward.monitoring.runs import run_monitor
from modelward.monitoring.tables import monitor_runs

if TYPE_CHECKING:
    from modelward.config import MonitorScheduleSettings
    from modelward.monitoring.webhooks import WebhookSender
    from modelward.session import Session

__all__ = ["MonitorTick", "run_due_monitors"]


@dataclass(frozen=True)
class MonitorTick:
    schedule: MonitorScheduleSettings
    tick: datetime
    #: "started" (this scheduler stored the run), "taken" (another one did), "error"
    state: str
    run: str = ""
    alerts: int = 0
    error: str = ""


def _stored(session: Session, endpoint: str, tick: datetime) -> bool:
    with session.store.read() as conn:
        found = conn.execute(
            select(monitor_runs.c.id).where(
                monitor_runs.c.endpoint == endpoint, monitor_runs.c.tick == tick
            )
        ).first()
    return found is not None


def run_due_monitors(
    session: Session,
    *,
    now: datetime | None = None,
    webhook: WebhookSender | None = None,
    on_outcome: Callable[[MonitorTick], None] | None = None,
) -> list[MonitorTick]:
    """Run every monitor schedule's latest due tick that no scheduler has stored yet."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    outcomes: list[MonitorTick] = []
    for schedule in session.workspace.settings.monitoring.schedules:
        tick = latest_tick(schedule.cron, now)
        if _stored(session, schedule.endpoint, tick):
            outcome = MonitorTick(schedule, tick, "taken")
        else:
            try:
                result = run_monitor(
                    session,
                    schedule.endpoint,
                    window=timedelta(seconds=schedule.window_s),
                    end=tick,
                    webhook=webhook,
                    segments=schedule.segments,
                    actor="scheduler",
                    tick=tick,
                )
            except Conflict:
                outcome = MonitorTick(schedule, tick, "taken")
            except Exception as exc:  # one broken schedule must not stop the others
                outcome = MonitorTick(schedule, tick, "error", error=f"{type(exc).__name__}: {exc}")
            else:
                outcome = MonitorTick(schedule, tick, "started", result.id, len(result.alerts))
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes

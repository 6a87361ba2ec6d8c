"""``modelward scheduler``: start scheduled pipeline runs, each tick exactly once.

Every ``poll_s`` seconds the scheduler looks at each enabled schedule, takes the latest
tick at or before now (ticks missed while no scheduler ran are not replayed, except the
latest one), claims it (see :func:`~modelward.pipelines.schedules.claim_tick`) and, if
the claim is its own, runs the pipeline. Any number of schedulers may run at once, on
any machines sharing the metadata database.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelward.pipelines.schedules import (
    Schedule,
    claim_tick,
    latest_tick,
    list_schedules,
    record_tick_run,
)

if TYPE_CHECKING:
    from modelward.pipelines.executors.base import Executor
    from modelward.pipelines.graph import Pipeline
    from modelward.pipelines.runs import PipelineRun
    from modelward.session import Session

__all__ = ["TickOutcome", "run_due", "serve"]


@dataclass(frozen=True)
class TickOutcome:
    schedule: Schedule
    tick: datetime
    #: "started" (this scheduler ran it), "taken" (another one claimed it), "error"
    state: str
    run: PipelineRun | None = None
    error: str | None = None


def default_claimer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_due(
    session: Session,
    *,
    now: datetime | None = None,
    claimer: str | None = None,
    pipelines: Mapping[str, Pipeline] | None = None,
    executor: Executor | str | Mapping[str, Any] | None = None,
    on_outcome: Callable[[TickOutcome], None] | None = None,
) -> list[TickOutcome]:
    """Claim and run every schedule's latest due tick; what happened to each."""
    from modelward.pipelines.catalog import load_pipelines
    from modelward.pipelines.engine import run_pipeline

    now = now or datetime.now(UTC)
    who = claimer or default_claimer()
    outcomes: list[TickOutcome] = []
    schedules = list_schedules(session, enabled_only=True)
    if schedules and pipelines is None:
        pipelines = load_pipelines(session)
    for sched in schedules:
        tick = latest_tick(sched.cron, now)
        if tick < sched.created_at.replace(second=0, microsecond=0):
            continue  # nothing due since the schedule was made
        claim = claim_tick(session, sched.id, tick, who)
        if claim is None:
            outcome = TickOutcome(sched, tick, "taken")
        elif pipelines is None or sched.pipeline not in pipelines:
            outcome = TickOutcome(
                sched, tick, "error", error=f"pipeline {sched.pipeline!r} is not defined"
            )
        else:
            try:
                run = run_pipeline(
                    session,
                    pipelines[sched.pipeline],
                    sched.params,
                    executor=executor,
                    trigger="schedule",
                )
            except Exception as exc:  # one broken schedule must not stop the others
                outcome = TickOutcome(sched, tick, "error", error=f"{type(exc).__name__}: {exc}")
            else:
                record_tick_run(session, claim, run.id)
                outcome = TickOutcome(sched, tick, "started", run=run)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def serve(
    session: Session,
    *,
    poll_s: float | None = None,
    stop: threading.Event | None = None,
    executor: Executor | str | Mapping[str, Any] | None = None,
    on_outcome: Callable[[TickOutcome], None] | None = None,
    also: Sequence[Callable[[], None]] = (),
) -> None:
    """Run due ticks every ``poll_s`` seconds until ``stop`` is set; ``also`` are further
    looks made at every poll (the CLI passes the monitor schedules and retraining's)."""
    poll = poll_s or session.workspace.settings.pipelines.scheduler_poll_s
    stop = stop or threading.Event()
    claimer = default_claimer()
    while not stop.is_set():
        run_due(session, claimer=claimer, executor=executor, on_outcome=on_outcome)
        for look in also:
            look()
        stop.wait(poll)

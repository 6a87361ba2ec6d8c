"""Cron schedules of pipelines, and the tick lock that keeps schedulers from doubling up.

A schedule is a pipeline, a five-field cron expression (UTC) and parameter values. A
scheduler starts the run for a tick only after claiming it: inserting the row
``(schedule, tick)`` into ``schedule_ticks``, whose UNIQUE constraint lets exactly one
transaction succeed however many schedulers try at once (Postgres: the losers' inserts
wait for the winner's commit and then fail; SQLite: write transactions are serialised).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from modelward import security
from modelward.cron import check_cron, latest_tick
from modelward.errors import Conflict, NotFound
from modelward.pipelines.params import resolve_params
from modelward.pipelines.tables import pipeline_schedules, schedule_ticks

if TYPE_CHECKING:
    from modelward.pipelines.graph import Pipeline
    from modelward.session import Session

__all__ = [
    "Schedule",
    "check_cron",
    "claim_tick",
    "create_schedule",
    "latest_tick",
    "list_schedules",
    "set_enabled",
]


@dataclass(frozen=True)
class Schedule:
    id: int
    pipeline: str
    cron: str
    params: dict[str, Any]
    enabled: bool
    created_by: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "cron": self.cron,
            "params": self.params,
            "enabled": self.enabled,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


def _params_key(params: Mapping[str, Any]) -> str:
    body = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def create_schedule(
    session: Session,
    pipeline: Pipeline,
    cron: str,
    params: Mapping[str, Any] | None = None,
    *,
    params_from_text: bool = False,
) -> Schedule:
    """Schedule ``pipeline``; the cron expression and parameters are checked now."""
    expression = check_cron(cron)
    values = resolve_params(
        pipeline.params, params or {}, pipeline=pipeline.name, from_text=params_from_text
    )
    now = datetime.now(UTC)
    try:
        with session.store.transaction() as conn:
            new_id = conn.execute(
                insert(pipeline_schedules)
                .values(
                    pipeline=pipeline.name,
                    cron=expression,
                    params=values,
                    params_key=_params_key(values),
                    enabled=True,
                    created_by=session.actor,
                    created_at=now,
                )
                .returning(pipeline_schedules.c.id)
            ).scalar_one()
            security.record(
                conn,
                actor=session.actor,
                action="pipeline.schedule.created",
                target=f"pipeline-schedule:{new_id}",
                payload={"pipeline": pipeline.name, "cron": expression, "params": values},
            )
    except IntegrityError:
        raise Conflict(
            f"pipeline {pipeline.name!r} is already scheduled at {expression!r} with these "
            "parameters",
            pipeline=pipeline.name,
        ) from None
    return Schedule(new_id, pipeline.name, expression, values, True, session.actor, now)


def list_schedules(session: Session, *, enabled_only: bool = False) -> list[Schedule]:
    with session.store.read() as conn:
        query = select(pipeline_schedules).order_by(pipeline_schedules.c.id)
        if enabled_only:
            query = query.where(pipeline_schedules.c.enabled.is_(True))
        rows = conn.execute(query).all()
    return [
        Schedule(r.id, r.pipeline, r.cron, dict(r.params), r.enabled, r.created_by, r.created_at)
        for r in rows
    ]


def set_enabled(session: Session, schedule_id: int, enabled: bool) -> None:
    with session.store.transaction() as conn:
        done = conn.execute(
            update(pipeline_schedules)
            .where(pipeline_schedules.c.id == schedule_id)
            .values(enabled=enabled)
        )
        if done.rowcount == 0:
            raise NotFound(f"no pipeline schedule {schedule_id}", schedule=schedule_id)
        security.record(
            conn,
            actor=session.actor,
            action="pipeline.schedule.enabled" if enabled else "pipeline.schedule.disabled",
            target=f"pipeline-schedule:{schedule_id}",
        )


def claim_tick(session: Session, schedule_id: int, tick: datetime, claimer: str) -> int | None:
    """Claim ``tick`` of the schedule; the claim's id, or None if another scheduler has it."""
    try:
        with session.store.transaction() as conn:
            claim_id: int = conn.execute(
                insert(schedule_ticks)
                .values(
                    schedule_id=schedule_id,
                    tick=tick,
                    claimed_by=claimer,
                    claimed_at=datetime.now(UTC),
                )
                .returning(schedule_ticks.c.id)
            ).scalar_one()
    except IntegrityError:
        return None
    return claim_id


def record_tick_run(session: Session, claim_id: int, run_id: str) -> None:
    with session.store.transaction() as conn:
        conn.execute(
            update(schedule_ticks).where(schedule_ticks.c.id == claim_id).values(run_id=run_id)
        )

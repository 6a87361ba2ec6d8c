"""Run records: what a pipeline run was given, what each step read, wrote and cost.

A run is inserted with all its steps ``pending`` (and its audit entry) in one
transaction; each step then moves to ``running`` and to ``succeeded``, ``cached`` or
``failed`` (the steps after a failure become ``skipped``); the run ends ``succeeded``,
``failed`` or ``interrupted`` with its audit entry. Finished rows are read-only: the
database refuses to update or delete them (triggers from migration ``0007``).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from modelward import security
from modelward.errors import CheckFailed, NotFound
from modelward.pipelines.cache import StoredValue
from modelward.pipelines.tables import FINISHED_RUN_STATES, pipeline_runs, pipeline_steps

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "PipelineRun",
    "StepRecord",
    "get_run",
    "list_runs",
    "params_hash",
]


def params_hash(params: Mapping[str, Any]) -> str:
    body = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


@dataclass
class StepRecord:
    step: str
    position: int
    status: str
    code_hash: str
    params: dict[str, Any]
    cache_key: str | None = None
    input_hashes: dict[str, str] | None = None
    outputs: dict[str, StoredValue] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None
    error: str | None = None
    traceback: str | None = None
    error_details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "position": self.position,
            "status": self.status,
            "code_hash": self.code_hash,
            "params": self.params,
            "cache_key": self.cache_key,
            "input_hashes": self.input_hashes,
            "outputs": {k: v.to_dict() for k, v in (self.outputs or {}).items()} or None,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "wall_seconds": self.wall_seconds,
            "cpu_seconds": self.cpu_seconds,
            "peak_memory_bytes": self.peak_memory_bytes,
            "error": self.error,
            "traceback": self.traceback,
            "error_details": self.error_details,
        }


@dataclass
class PipelineRun:
    id: str
    pipeline: str
    status: str
    params: dict[str, Any]
    code: dict[str, Any]
    environment: dict[str, Any]
    executor: str
    trigger: str
    created_by: str
    started_at: datetime
    host: str = ""
    pid: int = 0
    resumed_from: str | None = None
    finished_at: datetime | None = None
    error: str | None = None
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def cache_hits(self) -> int:
        return sum(1 for s in self.steps if s.status == "cached")

    @property
    def failed_step(self) -> StepRecord | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    @property
    def wall_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def step(self, name: str) -> StepRecord:
        for s in self.steps:
            if s.step == name:
                return s
        raise NotFound(f"run {self.id}: no step {name!r}", step=name)

    @property
    def outputs(self) -> dict[str, StoredValue]:
        """Every output of every finished step, by output name."""
        out: dict[str, StoredValue] = {}
        for s in self.steps:
            out.update(s.outputs or {})
        return out

    def raise_for_status(self) -> None:
        """Raise :class:`~modelward.errors.CheckFailed` unless the run succeeded."""
        if self.ok:
            return
        failed = self.failed_step
        where = f" at step {failed.step!r}" if failed else ""
        raise CheckFailed(
            f"pipeline {self.pipeline!r} run {self.id} {self.status}{where}: {self.error}",
            run_id=self.id,
            step=failed.step if failed else None,
        )

    def to_dict(self, *, with_environment: bool = False) -> dict[str, Any]:
        env = (
            self.environment
            if with_environment
            else {k: v for k, v in self.environment.items() if k != "packages"}
        )
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "status": self.status,
            "params": self.params,
            "code": self.code,
            "environment": env,
            "executor": self.executor,
            "trigger": self.trigger,
            "resumed_from": self.resumed_from,
            "created_by": self.created_by,
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "wall_seconds": self.wall_seconds,
            "error": self.error,
            "cache_hits": self.cache_hits,
            "steps": [s.to_dict() for s in self.steps],
        }


# ---------------------------------------------------------------------------- writing


def insert_run(conn: Connection, run: PipelineRun) -> None:
    """The run, its pending steps and the audit entry, in the caller's transaction."""
    conn.execute(
        insert(pipeline_runs).values(
            id=run.id,
            pipeline=run.pipeline,
            status=run.status,
            params=run.params,
            params_hash=params_hash(run.params),
            code=run.code,
            environment=run.environment,
            executor=run.executor,
            trigger=run.trigger,
            resumed_from=run.resumed_from,
            created_by=run.created_by,
            host=run.host,
            pid=run.pid,
            started_at=run.started_at,
        )
    )
    for s in run.steps:
        conn.execute(
            insert(pipeline_steps).values(
                run_id=run.id,
                step=s.step,
                position=s.position,
                status=s.status,
                code_hash=s.code_hash,
                params=s.params,
            )
        )
    security.record(
        conn,
        actor=run.created_by,
        action="pipeline.run.started",
        target=f"pipeline-run:{run.id}",
        payload={"pipeline": run.pipeline, "params": run.params, "trigger": run.trigger},
    )


def save_step(conn: Connection, run_id: str, rec: StepRecord) -> None:
    conn.execute(
        update(pipeline_steps)
        .where(pipeline_steps.c.run_id == run_id, pipeline_steps.c.step == rec.step)
        .values(
            status=rec.status,
            cache_key=rec.cache_key,
            input_hashes=rec.input_hashes,
            outputs={k: v.to_dict() for k, v in rec.outputs.items()} if rec.outputs else None,
            started_at=rec.started_at,
            finished_at=rec.finished_at,
            wall_seconds=rec.wall_seconds,
            cpu_seconds=rec.cpu_seconds,
            peak_memory_bytes=rec.peak_memory_bytes,
            error=rec.error,
            traceback=rec.traceback,
            error_details=rec.error_details,
        )
    )


def finish_run(conn: Connection, run: PipelineRun, actor: str) -> None:
    conn.execute(
        update(pipeline_runs)
        .where(pipeline_runs.c.id == run.id)
        .values(status=run.status, finished_at=run.finished_at, error=run.error)
    )
    security.record(
        conn,
        actor=actor,
        action="pipeline.run.finished",
        target=f"pipeline-run:{run.id}",
        payload={
            "pipeline": run.pipeline,
            "status": run.status,
            "steps": {s.step: s.status for s in run.steps},
            "error": run.error,
        },
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupt_stale_runs(session: Session, pipeline: str) -> list[str]:
    """Mark runs of ``pipeline`` whose driver process on this host died as interrupted."""
    host = socket.gethostname()
    with session.store.read() as conn:
        rows = conn.execute(
            select(pipeline_runs.c.id, pipeline_runs.c.pid).where(
                pipeline_runs.c.pipeline == pipeline,
                pipeline_runs.c.status == "running",
                pipeline_runs.c.host == host,
            )
        ).all()
    stale = [r.id for r in rows if r.pid != os.getpid() and not _alive(r.pid)]
    now = datetime.now(UTC)
    for run_id in stale:
        run = get_run(session, run_id)
        with session.store.transaction() as conn:
            for s in run.steps:
                if s.status == "running":
                    s.status, s.finished_at = "failed", now
                    s.error = "the driver process died while this step ran"
                elif s.status == "pending":
                    s.status = "skipped"
                else:
                    continue
                save_step(conn, run_id, s)
            run.status, run.finished_at = "interrupted", now
            run.error = f"driver process {run.pid} on {host} died; rerun to resume"
            finish_run(conn, run, session.actor)
    return stale


# ---------------------------------------------------------------------------- reading


def _step_from_row(row: Any) -> StepRecord:
    return StepRecord(
        step=row.step,
        position=row.position,
        status=row.status,
        code_hash=row.code_hash,
        params=dict(row.params or {}),
        cache_key=row.cache_key,
        input_hashes=row.input_hashes,
        outputs=(
            {k: StoredValue.from_dict(v) for k, v in row.outputs.items()} if row.outputs else None
        ),
        started_at=row.started_at,
        finished_at=row.finished_at,
        wall_seconds=row.wall_seconds,
        cpu_seconds=row.cpu_seconds,
        peak_memory_bytes=row.peak_memory_bytes,
        error=row.error,
        traceback=row.traceback,
        error_details=row.error_details,
    )


def _run_from_row(row: Any, steps: Sequence[StepRecord]) -> PipelineRun:
    return PipelineRun(
        id=row.id,
        pipeline=row.pipeline,
        status=row.status,
        params=dict(row.params),
        code=dict(row.code),
        environment=dict(row.environment),
        executor=row.executor,
        trigger=row.trigger,
        created_by=row.created_by,
        started_at=row.started_at,
        host=row.host,
        pid=row.pid,
        resumed_from=row.resumed_from,
        finished_at=row.finished_at,
        error=row.error,
        steps=list(steps),
    )


def get_run(session: Session, run_id: str) -> PipelineRun:
    """One run with its steps; a unique prefix of the id is enough."""
    with session.store.read() as conn:
        rows = conn.execute(
            select(pipeline_runs).where(pipeline_runs.c.id.startswith(run_id)).limit(2)
        ).all()
        if not rows:
            raise NotFound(f"no pipeline run {run_id!r}", run_id=run_id)
        if len(rows) > 1:
            raise NotFound(f"pipeline run id {run_id!r} is ambiguous; give more of it")
        steps = conn.execute(
            select(pipeline_steps)
            .where(pipeline_steps.c.run_id == rows[0].id)
            .order_by(pipeline_steps.c.position)
        ).all()
    return _run_from_row(rows[0], [_step_from_row(s) for s in steps])


def list_runs(
    session: Session, pipeline: str | None = None, *, limit: int = 20
) -> list[PipelineRun]:
    """Latest runs first, with their steps."""
    with session.store.read() as conn:
        query = select(pipeline_runs).order_by(pipeline_runs.c.started_at.desc()).limit(limit)
        if pipeline is not None:
            query = query.where(pipeline_runs.c.pipeline == pipeline)
        rows = conn.execute(query).all()
        ids = [r.id for r in rows]
        steps: dict[str, list[StepRecord]] = {i: [] for i in ids}
        if ids:
            for s in conn.execute(
                select(pipeline_steps)
                .where(pipeline_steps.c.run_id.in_(ids))
                .order_by(pipeline_steps.c.position)
            ):
                steps[s.run_id].append(_step_from_row(s))
    return [_run_from_row(r, steps[r.id]) for r in rows]


def previous_unfinished(session: Session, pipeline: str, phash: str) -> str | None:
    """The latest failed or interrupted run with the same parameters (a run to resume)."""
    with session.store.read() as conn:
        row = conn.execute(
            select(pipeline_runs.c.id, pipeline_runs.c.status)
            .where(pipeline_runs.c.pipeline == pipeline, pipeline_runs.c.params_hash == phash)
            .order_by(pipeline_runs.c.started_at.desc())
            .limit(1)
        ).first()
    if row is None or row.status not in FINISHED_RUN_STATES or row.status == "succeeded":
        return None
    return str(row.id)

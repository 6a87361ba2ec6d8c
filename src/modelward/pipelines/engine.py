"""Running a pipeline: resolve parameters, record the run, run or reuse each step.

Steps run one at a time in graph order. Before a step runs, its cache key is computed
from its code hash, the parameters it reads and the hashes of its inputs; when the cache
holds outputs for that key (and the step is cacheable) they are reused and the step is
recorded as ``cached``. A run that stopped half-way (a failure, a killed worker or
driver) is therefore resumed by running it again: the finished steps are cache hits.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelward.errors import InputError
from modelward.pipelines import cache as cache_mod
from modelward.pipelines import cache_index
from modelward.pipelines.cache import ObjectStore
from modelward.pipelines.executors.base import Executor, StepOutcome, open_executor
from modelward.pipelines.graph import Pipeline
from modelward.pipelines.params import resolve_params
from modelward.pipelines.runs import (
    PipelineRun,
    StepRecord,
    finish_run,
    insert_run,
    interrupt_stale_runs,
    params_hash,
    previous_unfinished,
    save_step,
)
from modelward.pipelines.worker import pipeline_ref

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["StepEvent", "load_output", "objects_of", "run_pipeline"]


@dataclass(frozen=True)
class StepEvent:
    """Progress: ``kind`` is "started" or "finished"; ``record`` is the step's record."""

    kind: str
    run_id: str
    record: StepRecord
    total: int


def objects_of(session: Session) -> ObjectStore:
    home = session.workspace.home
    return ObjectStore(home / "pipelines" / "objects", session.workspace.tmp_dir)


def load_output(session: Session, run: PipelineRun, name: str) -> Any:
    """The value of output ``name`` of a finished step of ``run``."""
    stored = run.outputs.get(name)
    if stored is None:
        raise InputError(
            f"run {run.id}: no stored output {name!r}; outputs: {', '.join(run.outputs)}",
            output=name,
        )
    return objects_of(session).get(stored)


def _code(session: Session, pipeline: Pipeline) -> tuple[dict[str, Any], dict[str, Any]]:
    from modelward.registry import capture_environment

    env = capture_environment(session.workspace.root)
    code = {
        "definition_hash": pipeline.definition_hash,
        "steps": {s.name: s.code_hash for s in pipeline.order},
        "git": env.git.to_dict(),
        "module": pipeline.module,
    }
    return code, env.to_dict()


def _workspace_payload(session: Session) -> dict[str, Any]:
    ws = session.workspace
    secrets = {
        key: value.get_secret_value()
        for key in ("database_password", "audit_key")
        if (value := getattr(ws.secrets, key)) is not None
    }
    return {
        "root": str(ws.root),
        "settings": ws.settings.model_dump(mode="json"),
        "secrets": secrets,
    }


def run_pipeline(
    session: Session,
    pipeline: Pipeline,
    params: Mapping[str, Any] | None = None,
    *,
    params_from_text: bool = False,
    executor: Executor | str | Mapping[str, Any] | None = None,
    use_cache: bool = True,
    targets: Iterable[str] | None = None,
    trigger: str = "run",
    pinned: Mapping[str, Mapping[str, cache_mod.StoredValue]] | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
) -> PipelineRun:
    """Run ``pipeline`` and return its record (check ``run.ok`` or ``run.raise_for_status()``).

    ``params`` may be text (``params_from_text``, as from ``-p key=value``); ``executor``
    defaults to ``[pipelines] executor``; ``use_cache=False`` runs every step again (and
    leaves the cache as it was); ``targets`` runs only those steps and what they need;
    ``pinned`` gives steps whose recorded outputs are used instead of running them
    (``reproduce`` pins the steps that read the outside world).
    """
    values = resolve_params(
        pipeline.params, params or {}, pipeline=pipeline.name, from_text=params_from_text
    )
    selected = pipeline.ancestors(targets) if targets is not None else None
    if executor is None:
        executor = session.workspace.settings.pipelines.executor
    own = isinstance(executor, str | Mapping)
    ex: Executor = open_executor(executor) if isinstance(executor, str | Mapping) else executor
    try:
        ref = pipeline_ref(pipeline) if ex.name != "inline" else {}
        return _run(
            session,
            pipeline,
            values,
            ex,
            ref,
            use_cache,
            selected,
            trigger,
            pinned or {},
            on_event,
        )
    finally:
        if own:
            ex.close()


def _run(
    session: Session,
    pipeline: Pipeline,
    values: dict[str, Any],
    ex: Executor,
    ref: dict[str, str],
    use_cache: bool,
    selected: set[str] | None,
    trigger: str,
    pinned: Mapping[str, Mapping[str, cache_mod.StoredValue]],
    on_event: Callable[[StepEvent], None] | None,
) -> PipelineRun:
    interrupt_stale_runs(session, pipeline.name)
    code, environment = _code(session, pipeline)
    steps = [s for s in pipeline.order if selected is None or s.name in selected]
    run = PipelineRun(
        id=uuid.uuid4().hex,
        pipeline=pipeline.name,
        status="running",
        params=values,
        code=code,
        environment=environment,
        executor=ex.name,
        trigger=trigger,
        created_by=session.actor,
        started_at=datetime.now(UTC),
        host=socket.gethostname(),
        pid=os.getpid(),
        resumed_from=previous_unfinished(session, pipeline.name, params_hash(values)),
        steps=[
            StepRecord(
                step=s.name,
                position=i,
                status="pending",
                code_hash=s.code_hash,
                params={
                    a: values[b.source]
                    for a, b in pipeline.bindings[s.name].items()
                    if b.kind == "param"
                },
            )
            for i, s in enumerate(steps)
        ],
    )
    with session.store.transaction() as conn:
        insert_run(conn, run)
    objects = objects_of(session)
    task_base = {
        "run_id": run.id,
        "ref": ref,
        "trigger": trigger,
        "workspace": _workspace_payload(session),
        "objects_dir": str(objects.root),
        "tmp_dir": str(objects.tmp_dir),
    }
    produced: dict[str, cache_mod.StoredValue] = {}
    try:
        for rec in run.steps:
            if run.status != "running":
                rec.status = "skipped"
                with session.store.transaction() as conn:
                    save_step(conn, run.id, rec)
                continue
            _one_step(
                session,
                pinned,
                pipeline,
                run,
                rec,
                ex,
                objects,
                produced,
                task_base,
                use_cache,
                on_event,
            )
            if rec.status == "failed":
                run.status = "failed"
                run.error = f"step {rec.step!r} failed: {rec.error}"
        if run.status == "running":
            run.status = "succeeded"
    except BaseException:
        run.status, run.error = "interrupted", "the run was interrupted"
        _close_unfinished(session, run)
        raise
    finally:
        run.finished_at = datetime.now(UTC)
        with session.store.transaction() as conn:
            finish_run(conn, run, session.actor)
    return run


def _close_unfinished(session: Session, run: PipelineRun) -> None:
    now = datetime.now(UTC)
    with session.store.transaction() as conn:
        for rec in run.steps:
            if rec.status == "running":
                rec.status, rec.finished_at, rec.error = "failed", now, "interrupted"
            elif rec.status == "pending":
                rec.status = "skipped"
            else:
                continue
            save_step(conn, run.id, rec)


def _one_step(
    session: Session,
    pinned: Mapping[str, Mapping[str, cache_mod.StoredValue]],
    pipeline: Pipeline,
    run: PipelineRun,
    rec: StepRecord,
    ex: Executor,
    objects: ObjectStore,
    produced: dict[str, cache_mod.StoredValue],
    task_base: dict[str, Any],
    use_cache: bool,
    on_event: Callable[[StepEvent], None] | None,
) -> None:
    step = pipeline.step(rec.step)
    inputs = {
        a: produced[b.source] for a, b in pipeline.bindings[step.name].items() if b.kind == "output"
    }
    rec.input_hashes = {a: v.hash for a, v in inputs.items()}
    # a step that reads the outside world has no cache key: it is never looked up
    rec.cache_key = (
        cache_mod.cache_key(step.code_hash, rec.params, rec.input_hashes) if step.cache else None
    )
    rec.started_at = datetime.now(UTC)
    total = len(run.steps)
    hit = None
    status = "cached"
    if step.name in pinned:
        hit, status = dict(pinned[step.name]), "pinned"
        missing = [k for k, v in hit.items() if not objects.exists(v)]
        if missing:
            raise InputError(
                f"step {step.name!r}: recorded output(s) {', '.join(missing)} are no longer "
                "stored in this workspace; cannot pin them",
                step=step.name,
            )
    elif rec.cache_key is not None and use_cache:
        with session.store.read() as conn:
            hit = cache_index.lookup(conn, rec.cache_key, objects)
    if hit is not None:
        rec.status, rec.outputs, rec.finished_at = status, hit, datetime.now(UTC)
        rec.wall_seconds = rec.cpu_seconds = 0.0
        with session.store.transaction() as conn:
            save_step(conn, run.id, rec)
        produced.update(hit)
        if on_event:
            on_event(StepEvent("finished", run.id, rec, total))
        return
    rec.status = "running"
    with session.store.transaction() as conn:
        save_step(conn, run.id, rec)
    if on_event:
        on_event(StepEvent("started", run.id, rec, total))
    task = {
        **task_base,
        "step": step.name,
        "params": rec.params,
        "inputs": {a: v.to_dict() for a, v in inputs.items()},
    }
    outcome: StepOutcome = ex.run_step(task, objects, pipeline)
    rec.finished_at = datetime.now(UTC)
    rec.wall_seconds = outcome.wall_seconds
    rec.cpu_seconds = outcome.cpu_seconds
    rec.peak_memory_bytes = outcome.peak_memory_bytes
    if outcome.ok:
        rec.status, rec.outputs = "succeeded", outcome.outputs
        produced.update(outcome.outputs)
    else:
        rec.status = "failed"
        rec.error, rec.traceback = outcome.error, outcome.traceback
        rec.error_details = outcome.error_details
    with session.store.transaction() as conn:
        save_step(conn, run.id, rec)
        if outcome.ok and rec.cache_key is not None and use_cache:
            cache_index.remember(
                conn,
                key=rec.cache_key,
                pipeline=pipeline.name,
                step=step.name,
                outputs=outcome.outputs,
                run_id=run.id,
            )
    if on_event:
        on_event(StepEvent("finished", run.id, rec, total))

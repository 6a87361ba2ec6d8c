"""Batch scoring: one endpoint definition (or ``NAME@REF``) over a whole file or snapshot.

The run is the gateway's path done in bulk: the endpoint's request schema refuses rows for
the same rules (to a rejects file, the run goes on), features come from the same
definitions (point-in-time from the offline store when the input has the event-time
column, as training read them; the online store otherwise), on-demand transforms run in
the same functions, the model is loaded by the same loader, and every scored row is
written to the prediction log with ``mode="batch"``.

Output layout, under ``output``::

    <digest>/                       visible only once the run is complete
        manifest.json               model, version, run id, input hash, parts, counts
        part-00000.parquet          row_key, row_number, prediction, model, model_version, run_id
        rejects-00000.parquet       row_number, field, rule, value (only for parts with rejects)
    .<digest>.partial/              a run under way (or killed): parts land here by rename

``digest`` hashes the input's content, the model version and the definition, so a rerun
of the same input and version finds the finished directory and is skipped; a killed run
finds its ``.partial`` directory and scores only the parts not yet renamed into it. The
model version is resolved once, at the start, and recorded: a stage that moves during the
run does not change the version that scores it.

Example::

    result = mw.serving.batch_score("churn", "data/customers.parquet", "scores/")
    result.output / "manifest.json"
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelward.errors import InputError
from modelward.monitoring import PredictionSink
from modelward.security import Permission, Principal
from modelward.serving.batch_engines import EngineChoice, PartEngine, ProcessEngine, choose_engine
from modelward.serving.batch_input import BatchInput, open_input
from modelward.serving.batch_local import LocalScoring, Progress, score_here
from modelward.serving.batch_parts import (
    PartFeatures,
    PartPlan,
    finished_part,
    part_name,
)
from modelward.serving.batch_ray import RayEngine
from modelward.serving.binding import model_columns
from modelward.serving.endpoints import EndpointSpec, get_endpoint
from modelward.serving.models import ModelLoader, ModelResolver

if TYPE_CHECKING:
    from modelward.features import Catalog
    from modelward.session import Session

__all__ = ["BatchResult", "batch_score"]

_DEFAULT_ROWS = 65_536
_STATE = "run.json"
#: inputs whose parts the local engine's workers read themselves (by row group)
_READ_BY_PART = frozenset({"parquet", "snapshot"})


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did; ``output`` is the finished, content-addressed directory."""

    output: Path
    run_id: str
    endpoint: str
    model: str
    model_version: str
    input: str
    input_hash: str
    rows_in: int
    rows_scored: int
    rows_rejected: int
    parts: int
    #: an identical earlier run was found complete: nothing was scored this time
    skipped: bool = False
    #: parts a killed run had already finished, kept as they were
    resumed_parts: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output"] = str(self.output)
        return data


@dataclass(frozen=True)
class _Target:
    spec: EndpointSpec
    #: the endpoint's config version; None for a bare ``NAME@REF``
    config_version: int | None


def _target(
    session: Session | None,
    target: str | EndpointSpec,
    source: BatchInput,
    actor: Principal | None,
    exclude: Sequence[str],
) -> _Target:
    if isinstance(target, EndpointSpec):
        return _Target(target, None)
    if "@" not in target:
        if session is None:
            raise InputError("scoring an endpoint by name needs a workspace session")
        if actor is not None:
            actor.require(Permission.ENDPOINTS_READ)
        endpoint = get_endpoint(session, target)
        return _Target(endpoint.spec, endpoint.config_version)
    if actor is not None:
        actor.require(Permission.MODELS_READ)
    # a bare model: every input column but the key and the event time is a float input
    fields = {c: "float" for c in source.columns if c not in exclude}
    if not fields:
        raise InputError(f"input {source.label}: no column left to score", field="input")
    name = target.rpartition("@")[0]
    try:
        spec = EndpointSpec(
            name=name, model=target, request=fields, latency_budget_ms=60_000, max_rows=1
        )
    except ValueError as exc:
        raise InputError(f"target {target[:80]!r}: {exc}", field="target") from None
    return _Target(spec, None)


def _digest(parts: dict[str, Any]) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def batch_score(
    target: str | EndpointSpec,
    input: str | Path,
    output: str | Path,
    *,
    session: Session | None = None,
    actor: Principal | None = None,
    key: str | None = None,
    event_time: str = "event_timestamp",
    batch_rows: int = _DEFAULT_ROWS,
    resolver: ModelResolver | None = None,
    loader: ModelLoader | None = None,
    catalog: Catalog | None = None,
    prediction_log: PredictionSink | None = None,
    on_progress: Progress | None = None,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
) -> BatchResult:
    """Score ``input`` (Parquet, CSV, a snapshot ``NAME@VERSION`` or ``sql:QUERY``, a DuckDB
    query) into ``output``.

    ``target`` is an endpoint name, ``NAME@REF`` (every input column but ``key`` and
    ``event_time`` is a float model input, in file order) or an :class:`EndpointSpec`.
    ``key`` names the column that identifies a row in the output and the prediction log
    (default: the input row number). ``resolver``/``loader``/``prediction_log`` default to
    the workspace's registry, MLflow and ``[serving.prediction_log]``; ``on_progress`` is
    called with the rows done and the total (None for CSV) after every part.

    ``engine="local"`` scores in this process (``workers=1``) or in ``workers`` processes
    of this machine (``0``: every core, no more than the input has parts), each scoring
    whole parts; ``engine="ray"`` sends the parts to the
    Ray cluster at ``address`` (``ray`` extra). Whichever engine, the parts, the manifest,
    resume and skipped reruns are the same; with more than one process the prediction log
    is the workspace's (each process opens it), so ``prediction_log`` must be left out.
    """
    began = time.perf_counter()
    if batch_rows < 1:
        raise InputError("batch_rows must be at least 1", field="batch_rows")
    if session is None and (resolver is None or loader is None or prediction_log is None):
        from modelward.session import resolve_session

        session = resolve_session(session)
    # hashed below, once the workers (if any) are starting: the hash reads the whole file
    source = open_input(session, input, content_hash=False)
    plan = _target(session, target, source, actor, [c for c in (key, event_time) if c])
    spec = plan.spec
    if isinstance(spec.request, str):
        # the fields would come from the model's signature, which is read only once the
        # model is loaded, after the columns it is fed are known
        raise InputError(
            f"endpoint {spec.name!r} takes its request from the model's signature "
            "(request: from_signature), which batch scoring does not read yet; score the "
            "model itself (NAME@VERSION) or write the request fields",
            field="request",
        )
    missing = [f for f in spec.request if f not in source.columns]
    if missing:
        raise InputError(
            f"input {source.label} lacks the request field(s) {', '.join(missing)} of "
            f"{spec.name!r} (columns: {', '.join(source.columns[:20])})",
            field=missing[0],
        )
    if key is not None and key not in source.columns:
        raise InputError(f"input {source.label} has no key column {key!r}", field="key")
    part_count = None if source.num_rows is None else -(-source.num_rows // batch_rows)
    runner = _engine_choice(engine, workers, address, prediction_log, session, part_count)
    features = PartFeatures(
        session, spec, catalog, event_time if event_time in source.columns else None
    )
    columns = model_columns(spec, spec.request, features.names)
    unknown = [c for c in columns if c not in spec.request and c not in features.names]
    if unknown:
        raise InputError(
            f"model_inputs {', '.join(unknown)} are neither request fields nor features",
            field="model_inputs",
        )

    explicit_loader = loader is not None
    if resolver is None or loader is None:
        from modelward.serving.models import MlflowModelLoader, RegistryModelResolver

        assert session is not None
        resolver = resolver or RegistryModelResolver(session)
        loader = loader or MlflowModelLoader(session)
    # pinned here, once: a stage that moves mid-run does not change who scores the rest
    resolved = resolver.resolve(spec.model)
    part_plan = PartPlan(
        spec=spec,
        resolved=resolved,
        columns=columns,
        run_id="",  # the run's, known once the input is hashed: see ProcessEngine.bind
        key=key,
        event_time=features.event_time,
        batch_rows=batch_rows,
        work=Path(),
        workspace=session.workspace if session is not None else None,
        loader=loader if explicit_loader else None,
        catalog=features.catalog,
    )
    # the input's hash (a read of the whole file, in a process of its own) runs beside the
    # start: the workers' start, or in this process the model's load and the first parts'
    # scoring; unless an earlier run's output is there, which a rerun is skipped for
    # (hashed first then)
    beside = runner.kind == "local" and not any(Path(output).glob("*/manifest.json"))
    pool: ProcessEngine | None = None
    local: LocalScoring | None = None
    try:
        if beside and runner.processes:
            pool = ProcessEngine(part_plan, runner.workers)
            hashing = source.start_hash()
            try:
                pool.start()
            except BaseException:
                hashing.cancel()
                raise
            source = hashing.result()
        elif beside:
            local, source = LocalScoring.start(part_plan, loader, prediction_log, session, source)
        else:
            source = source.hashed()
        if local is None and not runner.processes:
            local = LocalScoring.open(part_plan, loader, prediction_log, session)
        return _score_run(
            source, spec, plan, part_plan, runner, pool, local, output, on_progress, began
        )
    finally:
        if pool is not None:
            pool.close()
        if local is not None:
            local.close()


def _score_run(
    source: BatchInput,
    spec: EndpointSpec,
    plan: _Target,
    part_plan: PartPlan,
    runner: EngineChoice,
    workers: ProcessEngine | None,
    local: LocalScoring | None,
    output: str | Path,
    on_progress: Progress | None,
    began: float,
) -> BatchResult:
    """The run, once its input is hashed: skipped, resumed or scored into place."""
    resolved = part_plan.resolved
    key = part_plan.key
    batch_rows = part_plan.batch_rows
    identity = {
        "input": source.content_hash,
        "model": resolved.name,
        "version": resolved.version,
        "uri": resolved.uri,
        "spec": spec.model_dump(mode="json"),
        "key": key,
        "event_time": part_plan.event_time,
        "batch_rows": batch_rows,
    }
    digest = _digest(identity)
    root = Path(output)
    final = root / digest
    if (final / "manifest.json").is_file():
        done = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
        return _result(done, final, skipped=True, seconds=time.perf_counter() - began)

    work = root / f".{digest}.partial"
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / _STATE
    resumed = state_path.is_file()
    if resumed:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        for stale in work.glob(".*.tmp"):  # a write the killed run never renamed
            stale.unlink()
    else:
        state = {
            "run_id": uuid.uuid4().hex,
            "started_at": datetime.now(UTC).isoformat(),
            "endpoint": spec.name,
            "endpoint_config_version": plan.config_version,
            "model": resolved.name,
            "model_version": resolved.version,
            "model_uri": resolved.uri,
            "input": source.label,
            "input_kind": source.kind,
            "input_hash": source.content_hash,
            "key": key,
            "event_time": part_plan.event_time,
            "batch_rows": batch_rows,
            "digest": digest,
        }
        _write_json(state_path, state)

    part_plan = dataclasses.replace(part_plan, run_id=state["run_id"], work=work)
    if runner.processes:
        # the workers load the pinned version themselves; no model in this process
        engine = workers.bind(part_plan) if workers is not None else runner.open(part_plan)
        parts = _run_parts(source, spec, work, engine, batch_rows, on_progress, resumed)
    else:
        assert local is not None
        parts = score_here(local, source, work, state["run_id"], on_progress, resumed)
    manifest = {
        **state,
        "finished_at": datetime.now(UTC).isoformat(),
        "rows_in": sum(p["rows_in"] for p in parts),
        "rows_scored": sum(p["rows_scored"] for p in parts),
        "rows_rejected": sum(p["rows_rejected"] for p in parts),
        # how this (last) attempt ran; the parts and their rows do not depend on it
        "engine": runner.describe(),
        "parts": parts,
    }
    _write_json(work / "manifest.json", manifest)
    state_path.unlink()
    if final.exists():  # an identical run finished beside this one: keep the first
        shutil.rmtree(work)
    else:
        os.replace(work, final)
    return _result(
        manifest,
        final,
        resumed_parts=sum(1 for p in parts if p["resumed"]),
        seconds=time.perf_counter() - began,
    )


def _run_indexed(
    source: BatchInput,
    work: Path,
    engine: RayEngine | ProcessEngine,
    batch_rows: int,
    strings: frozenset[str],
    on_progress: Progress | None,
    resumed: bool,
) -> list[dict[str, Any]]:
    """The parts of an engine whose workers read their own part (by number)."""
    if source.num_rows is None:
        raise InputError(
            f"input {source.label}: the Ray engine reads parts by row range, which needs "
            "the row count (Parquet, a snapshot or a query); score a CSV file locally",
            field="engine",
        )
    total = source.num_rows
    count = -(-total // batch_rows)
    parts: dict[int, dict[str, Any]] = {}
    done = [0]

    def finished(part: dict[str, Any]) -> None:
        parts[part["index"]] = part
        done[0] += part["rows_in"]
        if on_progress is not None:
            on_progress(done[0], total)

    todo = []
    for index in range(count):
        if (work / part_name(index)).is_file():
            finished(finished_part(work, index, min(batch_rows, total - index * batch_rows)))
        else:
            todo.append(index)
    engine.run_indices(source, todo, strings, resumed=resumed, on_done=finished)
    return [parts[i] for i in sorted(parts)]


def _engine_choice(
    engine: str,
    workers: int,
    address: str | None,
    prediction_log: PredictionSink | None,
    session: Session | None,
    parts: int | None,
) -> EngineChoice:
    choice = choose_engine(engine, workers, address, parts)
    if choice.processes and prediction_log is not None:
        raise InputError(
            "with more than one process every worker writes the workspace's prediction "
            "log itself: leave prediction_log out (or use workers=1)",
            field="workers",
        )
    if choice.processes and session is None:
        raise InputError("scoring in several processes needs a workspace session", field="workers")
    return choice


def _result(manifest: dict[str, Any], path: Path, **extra: Any) -> BatchResult:
    return BatchResult(
        output=path,
        run_id=manifest["run_id"],
        endpoint=manifest["endpoint"],
        model=manifest["model"],
        model_version=manifest["model_version"],
        input=manifest["input"],
        input_hash=manifest["input_hash"],
        rows_in=manifest["rows_in"],
        rows_scored=manifest["rows_scored"],
        rows_rejected=manifest["rows_rejected"],
        parts=len(manifest["parts"]),
        **extra,
    )


def _run_parts(
    source: BatchInput,
    spec: EndpointSpec,
    work: Path,
    engine: PartEngine,
    batch_rows: int,
    on_progress: Progress | None,
    resumed: bool,
) -> list[dict[str, Any]]:
    strings = frozenset(spec.request)
    finished_before = {p.name for p in work.glob("part-*.parquet")}
    parts: dict[int, dict[str, Any]] = {}
    done = [0]
    if isinstance(engine, RayEngine) or (
        isinstance(engine, ProcessEngine) and source.kind in _READ_BY_PART
    ):
        # the workers read their own parts: no row goes through this process
        return _run_indexed(source, work, engine, batch_rows, strings, on_progress, resumed)

    def finished(part: dict[str, Any]) -> None:
        parts[part["index"]] = part
        done[0] += part["rows_in"]
        if on_progress is not None:
            on_progress(done[0], source.num_rows)

    def to_score() -> Iterator[tuple[int, pa.Table]]:
        for index, table in enumerate(source.batches(batch_rows, strings)):
            if part_name(index) in finished_before:
                finished(finished_part(work, index, table.num_rows))
            else:
                yield index, table

    engine.run(to_score(), resumed=resumed, on_done=finished)
    return [parts[i] for i in sorted(parts)]

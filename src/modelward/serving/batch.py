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

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelward.errors import InputError, ModelUnavailable
from modelward.monitoring import PredictionRecord, PredictionSink
from modelward.security import Permission, Principal
from modelward.serving.batch_input import BatchInput, check_rows, open_input
from modelward.serving.binding import model_columns
from modelward.serving.endpoints import EndpointSpec, get_endpoint
from modelward.serving.models import LoadedModel, ModelLoader, ModelResolver
from modelward.serving.schema import RequestSchema

if TYPE_CHECKING:
    from modelward.features import Catalog
    from modelward.session import Session

__all__ = ["BatchResult", "batch_score"]

Progress = Callable[[int, int | None], None]

_DEFAULT_ROWS = 65_536
_LOG_CHUNK = 10_000
_REDACTED = "[redacted]"
_STATE = "run.json"


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


def _write_parquet(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class _Features:
    """Feature values for the rows of one batch, from the same definitions as training."""

    def __init__(
        self, session: Session | None, spec: EndpointSpec, catalog: Catalog | None, ts: str | None
    ) -> None:
        self.spec = spec
        self.event_time = ts
        self.session = session
        self.names: list[str] = []
        self._lookup: Any = None
        if not spec.feature_refs:
            self.catalog = None
            return
        from modelward.features import load_catalog

        if catalog is None:
            if session is None:
                raise InputError(f"endpoint {spec.name!r} reads features: give a session")
            catalog = load_catalog(session)
        self.catalog = catalog
        for selection in catalog.select(spec.feature_refs):
            self.names.extend(n for n in selection.names if n not in self.names)

    def add(self, good: pa.Table) -> tuple[pa.Table, list[tuple[int, str, str]]]:
        """``good`` with the feature columns; rows lacking a value go to the rejects."""
        if self.catalog is None or good.num_rows == 0:
            return good, []
        spec = self.spec
        if self.event_time is not None:
            from modelward.features import training_set

            spine = good.select([*spec.request, self.event_time])
            joined = training_set(
                spine,
                spec.feature_refs,
                session=self.session,
                catalog=self.catalog,
                timestamp_column=self.event_time,
                allow_duplicates=True,
            ).to_arrow()
            values = {n: joined.column(n).to_pylist() for n in self.names}
            why = f"has no value at {self.event_time} (point-in-time, within the view's TTL)"
        else:
            lookup = self._online()
            entities = {k: good.column(k).to_pylist() for k in spec.entity_keys}
            request = {
                f: good.column(f).to_pylist() for f in spec.request if f not in spec.entity_keys
            }
            result = lookup.get(entities, spec.feature_refs, request=request or None)
            values = {n: list(result.columns[n]) for n in self.names}
            why = "has no online value (and the input has no event-time column)"
        missing = np.zeros(good.num_rows, dtype=bool)
        for column in values.values():
            missing |= np.fromiter((v is None for v in column), dtype=bool, count=len(column))
        rejects: list[tuple[int, str, str]] = []
        if missing.any():
            numbers = good.column("row_number").to_pylist()
            for i in np.flatnonzero(missing).tolist():
                for name, column in values.items():
                    if column[i] is None:
                        rejects.append((numbers[i], name, why))
        for name, column in values.items():
            if name not in good.column_names:
                good = good.append_column(name, pa.array(column, type=pa.float64()))
        if missing.any():
            good = good.filter(pa.array(~missing))
        return good, rejects

    def _online(self) -> Any:
        if self._lookup is None:
            from modelward.features import FeatureLookup, online_store

            assert self.catalog is not None
            self._lookup = FeatureLookup(online_store(self.session), self.catalog)
        return self._lookup


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
) -> BatchResult:
    """Score ``input`` (Parquet, CSV or a snapshot ``NAME@VERSION``) into ``output``.

    ``target`` is an endpoint name, ``NAME@REF`` (every input column but ``key`` and
    ``event_time`` is a float model input, in file order) or an :class:`EndpointSpec`.
    ``key`` names the column that identifies a row in the output and the prediction log
    (default: the input row number). ``resolver``/``loader``/``prediction_log`` default to
    the workspace's registry, MLflow and ``[serving.prediction_log]``; ``on_progress`` is
    called with the rows done and the total (None for CSV) after every part.
    """
    began = time.perf_counter()
    if batch_rows < 1:
        raise InputError("batch_rows must be at least 1", field="batch_rows")
    if session is None and (resolver is None or loader is None or prediction_log is None):
        from modelward.session import resolve_session

        session = resolve_session(session)
    source = open_input(session, input)
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
    features = _Features(
        session, spec, catalog, event_time if event_time in source.columns else None
    )
    columns = model_columns(spec, spec.request, features.names)
    unknown = [c for c in columns if c not in spec.request and c not in features.names]
    if unknown:
        raise InputError(
            f"model_inputs {', '.join(unknown)} are neither request fields nor features",
            field="model_inputs",
        )

    if resolver is None or loader is None:
        from modelward.serving.models import MlflowModelLoader, RegistryModelResolver

        assert session is not None
        resolver = resolver or RegistryModelResolver(session)
        loader = loader or MlflowModelLoader(session)
    # pinned here, once: a stage that moves mid-run does not change who scores the rest
    resolved = resolver.resolve(spec.model)
    identity = {
        "input": source.content_hash,
        "model": resolved.name,
        "version": resolved.version,
        "uri": resolved.uri,
        "spec": spec.model_dump(mode="json"),
        "key": key,
        "event_time": features.event_time,
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
            "event_time": features.event_time,
            "batch_rows": batch_rows,
            "digest": digest,
        }
        _write_json(state_path, state)

    model = loader.load(resolved, spec.output, columns)
    sink = prediction_log
    opened_sink = False
    if sink is None:
        from modelward.monitoring import open_workspace_log

        assert session is not None
        sink = open_workspace_log(session)
        opened_sink = True
    scorer = _Scorer(spec, model, columns, features, sink, state["run_id"], key)
    try:
        parts = _run_parts(source, spec, work, scorer, batch_rows, on_progress, resumed)
    finally:
        if opened_sink:
            sink.close()
    manifest = {
        **state,
        "finished_at": datetime.now(UTC).isoformat(),
        "rows_in": sum(p["rows_in"] for p in parts),
        "rows_scored": sum(p["rows_scored"] for p in parts),
        "rows_rejected": sum(p["rows_rejected"] for p in parts),
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


def _part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _run_parts(
    source: BatchInput,
    spec: EndpointSpec,
    work: Path,
    scorer: _Scorer,
    batch_rows: int,
    on_progress: Progress | None,
    resumed: bool,
) -> list[dict[str, Any]]:
    assert not isinstance(spec.request, str)  # from_signature is refused before
    request = spec.request
    schema = RequestSchema(spec.name, request, max_rows=1)
    pii = frozenset(spec.pii_fields)
    strings = frozenset(spec.request)
    parts: list[dict[str, Any]] = []
    first_row = 0
    finished_before = {p.name for p in work.glob("part-*.parquet")}
    # the first part a resumed run scores is the one the killed run may have half logged
    after_resume = resumed
    for index, table in enumerate(source.batches(batch_rows, strings)):
        name = _part_name(index)
        rows_in = table.num_rows
        if name in finished_before:
            parts.append(_finished_part(work, index, rows_in))
        else:
            checked = check_rows(table, request, schema, first_row, pii)
            good, missing = scorer.features.add(checked.good)
            rejects = checked.rejects
            if missing:
                extra = pa.table(
                    {
                        "row_number": [m[0] for m in missing],
                        "field": [m[1] for m in missing],
                        "rule": [m[2] for m in missing],
                        "value": pa.nulls(len(missing), pa.string()),
                    }
                )
                rejects = pa.concat_tables([rejects, extra.cast(rejects.schema)])
            scored = scorer.score(good, dedupe_log=after_resume)
            after_resume = False
            rejected = checked.rejected_rows + len({m[0] for m in missing})
            if rejects.num_rows:
                _write_parquet(work / f"rejects-{index:05d}.parquet", rejects)
            # the part's rename is the commit point: a run killed before it redoes the part
            _write_parquet(work / name, scored)
            parts.append(
                {
                    "index": index,
                    "file": name,
                    "rows_in": rows_in,
                    "rows_scored": scored.num_rows,
                    "rows_rejected": rejected,
                    "rejects_file": f"rejects-{index:05d}.parquet" if rejects.num_rows else None,
                    "resumed": False,
                }
            )
        first_row += rows_in
        if on_progress is not None:
            on_progress(first_row, source.num_rows)
    return parts


def _finished_part(work: Path, index: int, rows_in: int) -> dict[str, Any]:
    name = _part_name(index)
    scored = pq.read_metadata(work / name).num_rows
    rejects_name = f"rejects-{index:05d}.parquet"
    rejects_path = work / rejects_name
    rejected = 0
    if rejects_path.is_file():
        numbers = pq.read_table(rejects_path, columns=["row_number"]).column("row_number")
        rejected = len(set(numbers.to_pylist()))
    return {
        "index": index,
        "file": name,
        "rows_in": rows_in,
        "rows_scored": scored,
        "rows_rejected": rejected,
        "rejects_file": rejects_name if rejects_path.is_file() else None,
        "resumed": True,
    }


def _row_range(good: pa.Table) -> str:
    """The input row numbers of ``good``, as a range for a message."""
    numbers = good.column("row_number")
    return f"{numbers[0].as_py()}-{numbers[-1].as_py()}"


class _Scorer:
    """The model call and the prediction log for the checked rows of one part."""

    def __init__(
        self,
        spec: EndpointSpec,
        model: LoadedModel,
        columns: list[str],
        features: _Features,
        sink: PredictionSink,
        run_id: str,
        key: str | None,
    ) -> None:
        self.spec = spec
        self.model = model
        self.columns = columns
        self.features = features
        self.sink = sink
        self.run_id = run_id
        self.key = key
        logged = [f for f in spec.request if f not in columns] + columns
        self.logged = list(dict.fromkeys(logged))
        self.pii = frozenset(spec.pii_fields)

    def score(self, good: pa.Table, *, dedupe_log: bool) -> pa.Table:
        n = good.num_rows
        started = time.perf_counter()
        if n:
            matrix = np.column_stack(
                [good.column(c).to_numpy(zero_copy_only=False) for c in self.columns]
            ).astype(np.float64, copy=False)
            try:
                predictions = self.model.predict(matrix)
            except Exception as exc:
                # every row of the run would fail alike: stop here (the run resumes later)
                raise ModelUnavailable(
                    f"model {self.model.name}@{self.model.version} failed on rows "
                    f"{_row_range(good)}: {type(exc).__name__}: {exc}",
                    model=f"{self.model.name}@{self.model.version}",
                ) from None
        else:
            predictions = []
        seconds = time.perf_counter() - started
        numbers = good.column("row_number")
        keys = good.column(self.key) if self.key is not None else numbers
        out = pa.table(
            {
                "row_key": keys,
                "row_number": numbers,
                "prediction": pa.array(predictions) if n else pa.array([], pa.float64()),
                "model": pa.array([self.model.name] * n, pa.string()),
                "model_version": pa.array([self.model.version] * n, pa.string()),
                "run_id": pa.array([self.run_id] * n, pa.string()),
            }
        )
        if n:
            self._log(good, numbers.to_pylist(), predictions, seconds * 1000 / n, dedupe_log)
        return out

    def _log(
        self,
        good: pa.Table,
        numbers: list[int],
        predictions: list[Any],
        latency_ms: float,
        dedupe: bool,
    ) -> None:
        at_us = time.time_ns() // 1000
        names = self.logged
        values = [
            [_REDACTED] * good.num_rows if n in self.pii else good.column(n).to_pylist()
            for n in names
        ]
        # by row number, not by key: a key may repeat (one customer at many event times),
        # and the resumed part's lookup below must not mistake one row for another
        ids = [f"{self.run_id}/{i}" for i in numbers]
        already: set[str] = set()
        if dedupe:  # the part a killed run was writing: its log lines may be there already
            already = self.sink.find_request_ids(self.spec.name, ids)
        spec, model = self.spec, self.model
        records = [
            PredictionRecord(
                rid,
                at_us,
                spec.name,
                model.name,
                model.version,
                dict(zip(names, row, strict=True)),
                prediction,
                latency_ms,
                False,
                mode="batch",
            )
            for rid, row, prediction in zip(
                ids, zip(*values, strict=True), predictions, strict=True
            )
            if rid not in already
        ]
        for start in range(0, len(records), _LOG_CHUNK):
            self.sink.write(records[start : start + _LOG_CHUNK])

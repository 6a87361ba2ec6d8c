"""One part of a batch run: check its rows, add features, score, log, write the part file.

A part is scored alike wherever it runs (in the run's own process, in a worker process of
the local engine, in a Ray worker): :class:`PartScorer` holds everything it needs, and
:class:`PartPlan` is what a worker receives to build its own (it pickles: the endpoint
definition, the pinned model version, where the workspace and its prediction log are).

A part's rename into the run's ``.partial`` directory is its commit point: its rejects
file and its prediction log lines are written before it, so a run killed earlier redoes
the part, and the redo finds the log lines already there by request id
(``RUN_ID/ROW_NUMBER``) and does not write them twice.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelward import parquet
from modelward.errors import InputError, ModelUnavailable
from modelward.monitoring import PredictionSink, prediction_table
from modelward.serving.batch_input import check_rows
from modelward.serving.endpoints import EndpointSpec
from modelward.serving.models import LoadedModel, ModelLoader, ResolvedModel
from modelward.serving.schema import RequestSchema

if TYPE_CHECKING:
    from modelward.config import Workspace
    from modelward.features import Catalog
    from modelward.session import Session

__all__ = [
    "PartFeatures",
    "PartPlan",
    "PartScorer",
    "ScoredPart",
    "finished_part",
    "part_name",
    "write_parquet",
]

#: rows of the prediction log per table write (bounds the Python lists a sink builds)
_LOG_CHUNK = 65_536


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _rejects_name(index: int) -> str:
    return f"rejects-{index:05d}.parquet"


def write_parquet(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    parquet.write_table(table, tmp, unique=("row_key", "row_number", "request_id"))
    os.replace(tmp, path)


def finished_part(work: Path, index: int, rows_in: int) -> dict[str, Any]:
    """The manifest entry of a part a killed run had already renamed into place."""
    name = part_name(index)
    scored = pq.read_metadata(work / name).num_rows
    rejects_path = work / _rejects_name(index)
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
        "rejects_file": rejects_path.name if rejects_path.is_file() else None,
        "resumed": True,
    }


@dataclass(frozen=True)
class PartPlan:
    """What scoring a part needs, in a form a worker process can be sent."""

    spec: EndpointSpec
    resolved: ResolvedModel
    #: the model's input columns, in the order it is fed
    columns: list[str]
    run_id: str
    key: str | None
    event_time: str | None
    batch_rows: int
    work: Path
    #: the workspace a worker opens its session on (None: a run without a workspace)
    workspace: Workspace | None = None
    #: the loader a worker loads the model with (None: MLflow, through the workspace)
    loader: ModelLoader | None = None
    #: the prediction log a worker opens (None: the workspace's ``[serving.prediction_log]``)
    sink_config: Mapping[str, Any] | None = None
    catalog: Catalog | None = None


class PartFeatures:
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


@dataclass(frozen=True)
class ScoredPart:
    """A part scored but not yet written: what :meth:`PartScorer.commit` writes.

    It holds nothing of the run it is written for (its id is in the part file and the log's
    request ids), so a part can be scored before the run is known: while the input is
    still being hashed for the run's content address.
    """

    index: int
    rows_in: int
    rows_rejected: int
    rejects: pa.Table
    #: the rows that passed, with their features
    good: pa.Table
    #: the model's output for each row of ``good``
    scores: pa.Array
    #: the model call's time per row
    latency_ms: float
    #: when it was scored (the log's time of its rows)
    at_us: int


def _row_range(good: pa.Table) -> str:
    """The input row numbers of ``good``, as a range for a message."""
    numbers = good.column("row_number")
    return f"{numbers[0].as_py()}-{numbers[-1].as_py()}"


class PartScorer:
    """Scores parts of one run: the schema check, features, the model call, the log."""

    def __init__(
        self,
        plan: PartPlan,
        model: LoadedModel,
        features: PartFeatures,
        sink: PredictionSink,
    ) -> None:
        spec = plan.spec
        assert not isinstance(spec.request, str)  # from_signature is refused before
        self.plan = plan
        self.spec = spec
        self.request = spec.request
        self.schema = RequestSchema(spec.name, spec.request, max_rows=1)
        self.model = model
        self.columns = plan.columns
        self.features = features
        self.sink = sink
        self.run_id = plan.run_id
        self.key = plan.key
        logged = [f for f in spec.request if f not in plan.columns] + plan.columns
        self.logged = list(dict.fromkeys(logged))
        self.pii = frozenset(spec.pii_fields)

    @classmethod
    def open(cls, plan: PartPlan) -> PartScorer:
        """A scorer of its own, in a worker process: its session, model and sink."""
        from modelward.monitoring import open_prediction_sink
        from modelward.session import Session

        session = Session(plan.workspace) if plan.workspace is not None else None
        loader = plan.loader
        if loader is None:
            from modelward.serving.models import MlflowModelLoader

            if session is None:
                raise InputError("a worker loads the model through the workspace: give one")
            loader = MlflowModelLoader(session)
        features = PartFeatures(session, plan.spec, plan.catalog, plan.event_time)
        model = loader.load(plan.resolved, plan.spec.output, plan.columns)
        if plan.sink_config is not None:
            root = plan.workspace.root if plan.workspace is not None else plan.work
            sink = open_prediction_sink(plan.sink_config, root)
        elif plan.workspace is not None:
            sink = open_prediction_sink(
                plan.workspace.settings.serving.prediction_log, plan.workspace.root
            )
        else:
            raise InputError("a worker writes the workspace's prediction log: give a workspace")
        return cls(plan, model, features, sink)

    def for_run(self, run_id: str, work: Path) -> PartScorer:
        """This scorer (its model, features and sink) for the run ``run_id`` writing into
        ``work``: a worker started before the run's id was known scores for it."""
        if (run_id, work) == (self.run_id, self.plan.work):
            return self
        bound = copy.copy(self)
        bound.plan = dataclasses.replace(self.plan, run_id=run_id, work=work)
        bound.run_id = run_id
        return bound

    def score_part(self, index: int, table: pa.Table, *, dedupe_log: bool) -> dict[str, Any]:
        """Score part ``index`` (the input's rows from ``index * batch_rows``) into place."""
        return self.commit(self.prepare(index, table), dedupe_log=dedupe_log)

    def prepare(self, index: int, table: pa.Table) -> ScoredPart:
        """Part ``index`` checked and scored, nothing written yet (see :meth:`commit`)."""
        rows_in = table.num_rows
        first_row = index * self.plan.batch_rows
        checked = check_rows(table, self.request, self.schema, first_row, self.pii)
        good, missing = self.features.add(checked.good)
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
        scores, latency_ms = self._predict(good)
        rejected = checked.rejected_rows + len({m[0] for m in missing})
        return ScoredPart(
            index, rows_in, rejected, rejects, good, scores, latency_ms, time.time_ns() // 1000
        )

    def commit(self, part: ScoredPart, *, dedupe_log: bool) -> dict[str, Any]:
        """Write ``part``: its log lines and rejects, then the part file by rename.

        The rename is the part's commit point: a run killed before it redoes the part, and
        with ``dedupe_log`` (a resumed run) writes only the log lines not there yet.
        """
        work = self.plan.work
        output, log = self._tables(part)
        if log is not None:
            self._write_log(log, dedupe_log)
        index = part.index
        if part.rejects.num_rows:
            write_parquet(work / _rejects_name(index), part.rejects)
        name = part_name(index)
        write_parquet(work / name, output)
        return {
            "index": index,
            "file": name,
            "rows_in": part.rows_in,
            "rows_scored": output.num_rows,
            "rows_rejected": part.rows_rejected,
            "rejects_file": _rejects_name(index) if part.rejects.num_rows else None,
            "resumed": False,
        }

    def _predict(self, good: pa.Table) -> tuple[pa.Array, float]:
        """The model's output for every row of ``good``, and the call's time per row."""
        n = good.num_rows
        if not n:
            return pa.array([], pa.float64()), 0.0
        started = time.perf_counter()
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
        seconds = time.perf_counter() - started
        return pa.array(predictions), seconds * 1000 / n

    def _tables(self, part: ScoredPart) -> tuple[pa.Table, pa.Table | None]:
        """The part file's table and the prediction log's (None: no row to log), for this
        scorer's run."""
        good, scores = part.good, part.scores
        n = good.num_rows
        numbers = good.column("row_number")
        keys = good.column(self.key) if self.key is not None else numbers
        out = pa.table(
            {
                "row_key": keys,
                "row_number": numbers,
                "prediction": scores,
                "model": pa.repeat(pa.scalar(self.model.name, pa.string()), n),
                "model_version": pa.repeat(pa.scalar(self.model.version, pa.string()), n),
                "run_id": pa.repeat(pa.scalar(self.run_id, pa.string()), n),
            }
        )
        if not n:
            return out, None
        # by row number, not by key: a key may repeat (one customer at many event times),
        # and a resumed part's lookup of its lines must not mistake one row for another
        ids = pc.binary_join_element_wise(
            f"{self.run_id}/", numbers.cast(pa.string()), ""
        ).combine_chunks()
        log = prediction_table(
            request_ids=ids,
            at_us=part.at_us,
            model=self.model.name,
            model_version=self.model.version,
            inputs=good.select(self.logged),
            predictions=scores,
            latency_ms=part.latency_ms,
            mode="batch",
            pii=self.pii,
        )
        return out, log

    def _write_log(self, table: pa.Table, dedupe: bool) -> None:
        """The part's rows as table writes of the prediction log (no record per row)."""
        if dedupe:  # a part a killed run was writing: its log lines may be there already
            ids = table.column("request_id")
            already = self.sink.find_request_ids(self.spec.name, ids.to_pylist())
            if already:
                known = pa.array(sorted(already), pa.string())
                table = table.filter(pc.invert(pc.is_in(ids, value_set=known)))
        for start in range(0, table.num_rows, _LOG_CHUNK):
            self.sink.write_table(self.spec.name, table.slice(start, _LOG_CHUNK))

    def close(self) -> None:
        self.sink.close()

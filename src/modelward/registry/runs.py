"""``with mw.run(...)``: an MLflow run whose lineage modelward records.

Inside the block, use the :class:`TrackedRun` (or plain ``mlflow.log_*`` calls: they land in
the same run). On a clean exit the lineage record (datasets read through ``mw.data``,
feature views, hyperparameters, metrics, split and seed, environment, git state, resource
use, author) is validated, mirrored as MLflow tags plus a ``modelward/lineage.json``
artifact, and stored in the metadata store with its audit entry in one transaction.

>>> with mw.run("churn-gbc", split="stratified 80/20 on churned", seed=7) as run:  # doctest: +SKIP
...     df = mw.data.read("customers@3").to_pandas()
...     model = GradientBoostingClassifier(max_depth=3).fit(X_train, y_train)
...     run.log_params({"max_depth": 3})
...     run.log_metrics({"auc": 0.91}, dataset="customers@3")
...     run.log_model(model)
>>> mw.register("churn", run)  # doctest: +SKIP
"""

from __future__ import annotations

import re
import resource
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from modelward import lineage as seam
from modelward import security
from modelward.errors import InputError
from modelward.registry import environment, tracking
from modelward.registry.lineage import check_snapshots, empty_record, missing_items
from modelward.registry.serialization import trusted_types_for
from modelward.registry.tables import training_runs

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["RunRecord", "TrackedRun", "run"]

_TAG = "modelward."


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    experiment_id: str
    name: str | None
    author: str
    started_at: datetime
    ended_at: datetime
    lineage: dict[str, Any]

    @property
    def missing(self) -> list[str]:
        return missing_items(self.lineage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "author": self.author,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "lineage": self.lineage,
            "lineage_missing": self.missing,
        }


@dataclass
class TrackedRun:
    """The handle ``mw.run`` yields. ``record`` is set once the block has exited cleanly."""

    session: Session
    run_id: str
    experiment_id: str
    collector: seam.LineageCollector
    split: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    segments: dict[str, dict[str, float]] = field(default_factory=dict)
    model_artifact: dict[str, Any] | None = None
    record: RunRecord | None = None

    def log_params(self, params: Mapping[str, Any]) -> None:
        import mlflow

        mlflow.log_params(dict(params))

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        *,
        segment: str | None = None,
        dataset: str | None = None,
    ) -> None:
        """Log offline metrics, overall or for one ``segment``, evaluated on ``dataset``.

        ``dataset`` is a snapshot reference (``name@version`` or id); the gate "beats the
        Production version" compares only versions evaluated on the same snapshot content.
        """
        import mlflow

        if dataset is not None:
            from modelward.data import get_snapshot

            snap = get_snapshot(self.session, dataset)
            self.evaluation = {
                "snapshot_id": snap.id,
                "name": snap.name,
                "version": snap.version,
                "content_hash": snap.content_hash,
            }
        values = {k: float(v) for k, v in metrics.items()}
        if segment is None:
            mlflow.log_metrics(values)
        else:
            self.segments.setdefault(segment, {}).update(values)
            mlflow.log_metrics({_metric_key(f"{segment}/{k}"): v for k, v in values.items()})

    def set_split(self, logic: str, seed: int | None) -> None:
        """How training and evaluation data were split, and the seed (``None``: no seed)."""
        if not logic.strip():
            raise InputError(
                "split.logic: must describe the split, e.g. 'random 80/20'", field="split.logic"
            )
        self.split = {"logic": logic, "seed": seed}

    def use_feature_view(self, name: str, definition_hash: str) -> None:
        """Record a feature view by hand (the feature store records its own reads)."""
        seam.note_feature_view(seam.FeatureViewUse(name, definition_hash))

    def log_model(self, model: Any, name: str = "model", **kwargs: Any) -> str:
        """Log a scikit-learn-API model (incl. XGBoost's) with skops; returns its model URI.

        The requirements are the locked versions of what the model needs, so MLflow does
        not infer them; tree internals are trusted per
        :data:`modelward.registry.serialization.TRUSTED_INTERNALS`.
        """
        import mlflow

        if not (hasattr(model, "fit") and hasattr(model, "predict")):
            raise InputError(
                "model: run.log_model takes a scikit-learn-API estimator; log other models "
                "with mlflow.<flavor>.log_model and pass model_uri= to mw.register",
                field="model",
            )
        kwargs.setdefault("pip_requirements", requirements_for(model))
        kwargs.setdefault("skops_trusted_types", trusted_types_for(model) or None)
        info = mlflow.sklearn.log_model(model, name=name, **kwargs)
        self.model_artifact = {
            "uri": info.model_uri,
            "flavor": "sklearn",
            "model_id": getattr(info, "model_id", None),
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
        }
        return str(info.model_uri)


def _metric_key(name: str) -> str:
    """An MLflow-valid metric name (MLflow allows letters, digits, ``_-./ :`` only)."""
    return re.sub(r"[^\w./ :-]", "_", name)


def requirements_for(model: Any) -> list[str]:
    """Pinned requirements to load ``model``: its library, skops, numpy, scipy, mlflow."""
    locked = environment.locked_packages()
    top = type(model).__module__.split(".")[0]
    dists = set(environment.distributions_of(top))
    dists |= {"scikit-learn", "skops", "numpy", "scipy", "mlflow"}
    pins = []
    for dist in sorted(dists):
        key = dist.lower().replace("_", "-").replace(".", "-")
        if key in locked:
            pins.append(f"{dist}=={locked[key]}")
    return pins


def _usage() -> tuple[float, float, float]:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), time.process_time(), children.ru_utime + children.ru_stime


@contextmanager
def run(
    name: str | None = None,
    *,
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    split: str | None = None,
    seed: int | None = None,
    tags: Mapping[str, str] | None = None,
    session: Session | None = None,
) -> Iterator[TrackedRun]:
    """Start an MLflow run in the workspace's store and record its lineage on exit."""
    import mlflow

    if name is not None and not 0 < len(name) <= 250:
        raise InputError("name: a run name is 1-250 characters", field="name")

    from modelward.session import resolve_session

    session = resolve_session(session)
    workspace = session.workspace
    started_at = datetime.now(UTC)
    wall0, cpu0, child0 = _usage()
    with tracking.using_workspace(workspace), seam.collecting() as collector:
        exp = tracking.experiment_id(workspace, experiment or workspace.settings.mlflow.experiment)
        with mlflow.start_run(experiment_id=exp, run_name=name, tags=dict(tags or {})) as active:
            handle = TrackedRun(session, active.info.run_id, active.info.experiment_id, collector)
            if params:
                handle.log_params(params)
            if split is not None:
                handle.set_split(split, seed)
            yield handle
            wall1, cpu1, child1 = _usage()
            record = _build_record(
                handle,
                started_at,
                {
                    "wall_seconds": round(wall1 - wall0, 3),
                    "cpu_seconds": round((cpu1 - cpu0) + (child1 - child0), 3),
                    # the process's peak resident set (Linux reports KiB), not the block's alone
                    "peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                },
            )
            with session.store.read() as conn:
                check_snapshots(conn, record.lineage)
            _mirror(record)
        with session.store.transaction() as conn:
            conn.execute(
                insert(training_runs).values(
                    run_id=record.run_id,
                    experiment_id=record.experiment_id,
                    name=record.name,
                    author=record.author,
                    started_at=record.started_at,
                    ended_at=record.ended_at,
                    lineage=record.lineage,
                )
            )
            security.record(
                conn,
                actor=session.actor,
                action="run.recorded",
                target=f"run:{record.run_id}",
                payload={"name": name, "lineage_missing": record.missing},
            )
        handle.record = record


def _build_record(handle: TrackedRun, started_at: datetime, resources: dict[str, Any]) -> RunRecord:
    import mlflow

    data = mlflow.get_run(handle.run_id).data
    segment_keys = {
        _metric_key(f"{s}/{k}") for s, values in handle.segments.items() for k in values
    }
    env = environment.capture(handle.session.workspace.root)
    record = empty_record()
    collected = handle.collector.to_dict()
    record.update(
        source="modelward",
        run_id=handle.run_id,
        model_artifact=handle.model_artifact,
        datasets=collected["datasets"],
        feature_views=collected["feature_views"],
        params=dict(data.params) or None,
        metrics={
            "overall": {k: v for k, v in data.metrics.items() if k not in segment_keys} or None,
            "segments": handle.segments,
        },
        evaluation=handle.evaluation,
        split=handle.split,
        environment=env.to_dict(),
        git=env.git.to_dict(),
        resources=resources,
        author=handle.session.actor,
    )
    return RunRecord(
        handle.run_id,
        handle.experiment_id,
        data.tags.get("mlflow.runName"),
        handle.session.actor,
        started_at,
        datetime.now(UTC),
        record,
    )


def _mirror(record: RunRecord) -> None:
    """Lineage as MLflow tags (short values) plus the whole record as an artifact."""
    import mlflow

    lin = record.lineage
    tags = {
        "author": record.author,
        "datasets": ",".join(
            f"{d['snapshot_id']}@{d['content_hash']}" for d in lin["datasets"] or []
        ),
        "feature_views": ",".join(
            f"{f['name']}@{f['definition_hash']}" for f in lin["feature_views"] or []
        ),
        "split.logic": (lin["split"] or {}).get("logic"),
        "split.seed": (lin["split"] or {}).get("seed"),
        "env.python": lin["environment"]["python"],
        "env.packages_hash": lin["environment"]["packages_hash"],
        "git.commit": lin["git"]["commit"],
        "git.dirty": lin["git"]["dirty"],
        "resources.cpu_seconds": lin["resources"]["cpu_seconds"],
        "resources.peak_memory_bytes": lin["resources"]["peak_memory_bytes"],
        "resources.wall_seconds": lin["resources"]["wall_seconds"],
        "lineage.missing": ",".join(record.missing),
    }
    mlflow.set_tags({_TAG + k: str(v)[:5000] for k, v in tags.items() if v not in (None, "")})
    mlflow.log_dict(lin, "modelward/lineage.json")

"""Model versions: registration with lineage, discovery of plain-MLflow versions, reads.

Version numbers are MLflow's: modelward registers in MLflow's model registry and keeps its
own row (stage, lineage, completeness) beside it. A version registered by plain MLflow code
is *discovered* (:mod:`~modelward.registry.discovery`) the first time anything looks for
it and recorded with the lineage its run tags allow, its missing items named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update

from modelward import security
from modelward.errors import Conflict, InputError, NotFound
from modelward.registry import tracking
from modelward.registry.lineage import check_snapshots, empty_record, missing_items
from modelward.registry.tables import model_versions, registered_models, training_runs

if TYPE_CHECKING:
    from mlflow.entities import Run

    from modelward.registry.runs import RunRecord, TrackedRun
    from modelward.session import Session

__all__ = [
    "MAX_VERSION",
    "STAGES",
    "ModelVersion",
    "RegisteredModel",
    "get_model",
    "list_models",
    "parse_ref",
    "register",
    "validate_name",
]

STAGES = ("None", "Staging", "Production", "Archived")
#: the largest version number the metadata database can hold (a 64-bit integer)
MAX_VERSION = 2**63 - 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
DEFAULT_APPROVALS = {"Staging": 0, "Production": 1}
DEFAULT_GATES: dict[str, list[dict[str, Any]]] = {
    "Staging": [{"type": "lineage_complete"}],
    "Production": [{"type": "lineage_complete"}],
}


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        shown = name if isinstance(name, str) and len(name) <= 60 else f"{str(name)[:60]}..."
        raise InputError(
            f"name: {shown!r} is not a valid model name; use 1-128 letters, digits, '_', '-' "
            "or '.', starting with a letter or digit (no path characters)",
            field="name",
        )
    return name


@dataclass(frozen=True)
class ModelVersion:
    model_name: str
    version: int
    stage: str
    source: str
    run_id: str | None
    model_uri: str
    lineage: dict[str, Any]
    lineage_complete: bool
    lineage_missing: list[str]
    created_by: str
    created_at: datetime
    stage_changed_at: datetime | None

    @property
    def ref(self) -> str:
        return f"{self.model_name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "version": self.version,
            "ref": self.ref,
            "stage": self.stage,
            "source": self.source,
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "lineage_complete": self.lineage_complete,
            "lineage_missing": self.lineage_missing,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "stage_changed_at": self.stage_changed_at,
            "lineage": self.lineage,
        }


def _from_row(row: Row[Any]) -> ModelVersion:
    return ModelVersion(
        row.model_name,
        row.version,
        row.stage,
        row.source,
        row.run_id,
        row.model_uri,
        row.lineage,
        row.lineage_complete,
        list(row.lineage_missing),
        row.created_by,
        row.created_at,
        row.stage_changed_at,
    )


def parse_ref(ref: str) -> tuple[str, int | str]:
    """``name@3`` -> ("name", 3); ``name@production`` -> ("name", "Production")."""
    name, sep, tail = ref.rpartition("@")
    if not sep:
        raise InputError(
            f"{ref[:80]!r}: expected NAME@VERSION, e.g. churn@3 or churn@production", field="ref"
        )
    validate_name(name)
    if tail.isascii() and tail.isdigit():
        number = int(tail)
        if not 1 <= number <= MAX_VERSION:
            raise InputError(
                f"{ref[:80]!r}: a version number is between 1 and {MAX_VERSION}", field="ref"
            )
        return name, number
    stage = tail.capitalize()
    if stage not in ("Staging", "Production"):
        raise InputError(
            f"{ref[:80]!r}: version must be a number, 'staging' or 'production'", field="ref"
        )
    return name, stage


def _ensure_model(conn: Connection, name: str, actor: str) -> None:
    exists = conn.execute(
        select(registered_models.c.name).where(registered_models.c.name == name)
    ).first()
    if exists is None:
        conn.execute(
            insert(registered_models).values(
                name=name,
                created_by=actor,
                created_at=datetime.now(UTC),
                revision=0,
                approval_policy=DEFAULT_APPROVALS,
                gate_policy=DEFAULT_GATES,
            )
        )
        security.record(
            conn,
            actor=actor,
            action="model.created",
            target=f"model:{name}",
            payload={"approval_policy": DEFAULT_APPROVALS, "gate_policy": DEFAULT_GATES},
        )


def _insert_version(
    conn: Connection,
    *,
    name: str,
    version: int,
    source: str,
    run_id: str | None,
    model_uri: str,
    lineage: dict[str, Any],
    actor: str,
    action: str,
) -> ModelVersion:
    _ensure_model(conn, name, actor)
    missing = missing_items(lineage)
    now = datetime.now(UTC)
    values = {
        "source": source,
        "run_id": run_id,
        "model_uri": model_uri,
        "lineage": lineage,
        "lineage_complete": not missing,
        "lineage_missing": missing,
        "created_by": actor,
    }
    where = (model_versions.c.model_name == name, model_versions.c.version == version)
    seen = conn.execute(select(model_versions.c.stage).where(*where)).first()
    if seen is None:
        conn.execute(
            insert(model_versions).values(
                model_name=name,
                version=version,
                stage="None",
                created_at=now,
                stage_changed_at=None,
                **values,
            )
        )
    elif seen.stage == "None":
        # discovered from MLflow a moment before mw.register recorded it: the fuller
        # lineage of the registration wins (the discovery stays in the audit log)
        conn.execute(update(model_versions).where(*where).values(**values))
    else:
        raise Conflict(
            f"{name}@{version} is already recorded and in {seen.stage}", model=name, version=version
        )
    # the feature store answers "which models use this view" from this, in the same commit
    from modelward.features import note_model_version

    note_model_version(
        conn, model=name, version=str(version), feature_views=lineage.get("feature_views") or []
    )
    security.record(
        conn,
        actor=actor,
        action=action,
        target=f"model:{name}@{version}",
        payload={
            "run_id": run_id,
            "model_uri": model_uri,
            "source": source,
            "lineage_complete": not missing,
            "lineage_missing": missing,
        },
    )
    row = conn.execute(
        select(model_versions).where(
            model_versions.c.model_name == name, model_versions.c.version == version
        )
    ).one()
    return _from_row(row)


def register(
    session: Session,
    name: str,
    run: TrackedRun | RunRecord | str | None = None,
    *,
    model_uri: str | None = None,
) -> ModelVersion:
    """Register a model version in MLflow and in modelward, with the run's lineage.

    ``run`` is what ``mw.run`` yielded (or its record, or an MLflow run id). ``model_uri``
    defaults to the model the run logged with ``run.log_model``.
    """
    import mlflow

    validate_name(name)
    record = _record_of(session, run)
    if record is not None:
        lineage = dict(record)
    elif isinstance(run, str):
        lineage = _lineage_from_mlflow(session, run, model_uri)
    else:
        lineage = empty_record() | {"author": session.actor, "source": "modelward"}
    uri = model_uri or (lineage.get("model_artifact") or {}).get("uri")
    if not uri:
        raise InputError(
            "model_uri: the run logged no model; call run.log_model(model) "
            "inside mw.run or pass model_uri=",
            field="model_uri",
        )
    if model_uri is not None:
        lineage["model_artifact"] = {**(lineage.get("model_artifact") or {}), "uri": model_uri}
    with session.store.read() as conn:
        check_snapshots(conn, lineage)
    with tracking.using_workspace(session.workspace):
        mv = mlflow.register_model(uri, name)
    _note_signature(session, lineage, uri)
    with session.store.transaction() as conn:
        version = _insert_version(
            conn,
            name=name,
            version=int(mv.version),
            source="modelward",
            run_id=lineage.get("run_id"),
            model_uri=uri,
            lineage=lineage,
            actor=session.actor,
            action="model.version.registered",
        )
    _tag_completeness(session, version)
    return version


def _record_of(session: Session, run: TrackedRun | RunRecord | str | None) -> dict[str, Any] | None:
    from modelward.registry.runs import RunRecord, TrackedRun

    if isinstance(run, TrackedRun):
        if run.record is None:
            raise InputError(
                "run: register after the `with mw.run(...)` block has ended, so "
                "its lineage is recorded",
                field="run",
            )
        return dict(run.record.lineage)
    if isinstance(run, RunRecord):
        return dict(run.lineage)
    if isinstance(run, str):
        with session.store.read() as conn:
            row = conn.execute(
                select(training_runs.c.lineage).where(training_runs.c.run_id == run)
            ).first()
        return dict(row.lineage) if row is not None else None
    return None


def _lineage_from_mlflow(
    session: Session, run_id: str | None, model_uri: str | None
) -> dict[str, Any]:
    """What the tags of a plain MLflow run tell (MLflow's own and the run-context plugin's)."""
    lineage = empty_record() | {"source": "mlflow", "run_id": run_id}
    if model_uri:
        lineage["model_artifact"] = {"uri": model_uri}
    if not run_id:
        return lineage
    run: Run = tracking.client(session.workspace).get_run(run_id)
    tags = run.data.tags
    lineage["params"] = dict(run.data.params) or None
    lineage["metrics"] = {"overall": dict(run.data.metrics) or None, "segments": {}}
    lineage["author"] = tags.get("modelward.author") or tags.get("mlflow.user")
    lineage["git"] = {
        "commit": tags.get("modelward.git.commit") or tags.get("mlflow.source.git.commit"),
        "dirty": {"True": True, "False": False}.get(tags.get("modelward.git.dirty", "")),
    }
    lineage["environment"] = {
        "python": tags.get("modelward.env.python"),
        "packages": None,
        "packages_hash": tags.get("modelward.env.packages_hash"),
    }
    return lineage


def _note_signature(session: Session, lineage: dict[str, Any], uri: str) -> None:
    """Record the input names of the model's MLflow signature (None: it has none).

    The ``forbidden_inputs`` gate reads them, so a gate never has to open the artifact.
    """
    from mlflow.exceptions import MlflowException

    names: list[str] | None = None
    try:
        from mlflow.models import get_model_info

        with tracking.using_workspace(session.workspace):
            signature = get_model_info(uri).signature
        if signature is not None and signature.inputs is not None:
            names = [str(n) for n in signature.inputs.input_names()]
    except (MlflowException, OSError, ValueError):
        names = None  # not an MLflow model folder, or unreadable: inputs stay unknown
    lineage["model_artifact"] = {**(lineage.get("model_artifact") or {}), "signature_inputs": names}


def _tag_completeness(session: Session, version: ModelVersion) -> None:
    c = tracking.client(session.workspace)
    c.set_model_version_tag(
        version.model_name,
        str(version.version),
        "modelward.lineage_complete",
        str(version.lineage_complete).lower(),
    )
    if version.lineage_missing:
        c.set_model_version_tag(
            version.model_name,
            str(version.version),
            "modelward.lineage_missing",
            ", ".join(version.lineage_missing),
        )


def _get(conn: Connection, name: str, which: int | str) -> ModelVersion:
    query = select(model_versions).where(model_versions.c.model_name == name)
    if isinstance(which, int):
        query = query.where(model_versions.c.version == which)
    else:
        query = query.where(model_versions.c.stage == which)
    row = conn.execute(query.order_by(model_versions.c.version.desc()).limit(1)).first()
    if row is None:
        known = conn.execute(
            select(registered_models.c.name).where(registered_models.c.name == name)
        ).first()
        if known is None:
            raise NotFound(f"model {name!r} is not registered", model=name)
        raise NotFound(f"model {name!r} has no version {which}", model=name, version=str(which))
    return _from_row(row)


@dataclass(frozen=True)
class RegisteredModel:
    """A model name with its Production pointers and its gate and approval policies."""

    name: str
    production_version: int | None
    previous_production_version: int | None
    approval_policy: dict[str, int]
    gate_policy: dict[str, list[dict[str, Any]]]
    created_by: str
    created_at: datetime
    #: who answers for the model, and who is paged for it (``modelward models owner``)
    owner: str | None = None
    on_call: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "production_version": self.production_version,
            "previous_production_version": self.previous_production_version,
            "approval_policy": self.approval_policy,
            "gate_policy": self.gate_policy,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "owner": self.owner,
            "on_call": self.on_call,
        }


def list_models(session: Session) -> list[RegisteredModel]:
    """Every registered model, by name."""
    with session.store.read() as conn:
        rows = conn.execute(select(registered_models).order_by(registered_models.c.name))
        return [
            RegisteredModel(
                r.name,
                r.production_version,
                r.previous_production_version,
                dict(r.approval_policy or {}),
                dict(r.gate_policy or {}),
                r.created_by,
                r.created_at,
                r.owner,
                r.on_call,
            )
            for r in rows
        ]


def get_model(session: Session, name: str) -> RegisteredModel:
    """One registered model with its policies; :class:`NotFound` naming it otherwise."""
    validate_name(name)
    found = [m for m in list_models(session) if m.name == name]
    if not found:
        raise NotFound(f"model {name!r} is not registered", model=name)
    return found[0]

"""``/api/v1``: models, versions, lineage, transitions, approvals, audit and snapshots."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from modelward import registry, security
from modelward.api import schemas
from modelward.api.deps import CurrentSession, known_query_only, requires
from modelward.security import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", dependencies=[Depends(known_query_only)])

Reader = Annotated[Principal, Depends(requires(Permission.MODELS_READ))]
Mover = Annotated[Principal, Depends(requires(Permission.MODELS_TRANSITION))]
Approver = Annotated[Principal, Depends(requires(Permission.MODELS_APPROVE))]
RollerBack = Annotated[Principal, Depends(requires(Permission.MODELS_ROLLBACK))]
Writer = Annotated[Principal, Depends(requires(Permission.MODELS_WRITE))]
AuditReader = Annotated[Principal, Depends(requires(Permission.AUDIT_READ))]
DataReader = Annotated[Principal, Depends(requires(Permission.DATASETS_READ))]
#: a model name in a path: what ``registry.versions.validate_name`` accepts
ModelName = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
#: a version number: MLflow's are positive and fit the database's 64-bit integer
VersionNumber = Annotated[int, Path(ge=1, le=2**63 - 1)]
VersionQuery = Annotated[int, Query(ge=1, le=2**63 - 1)]
SnapshotRef = Annotated[str, Path(min_length=1, max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransitionRequest(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to_stage": "Production", "reason": "beats v2 on auc"}]},
    )

    to_stage: Literal["Staging", "Production", "Archived", "None"]
    reason: str = Field(min_length=1, max_length=2000)
    override_reason: str | None = Field(default=None, min_length=1, max_length=2000)


class ApprovalRequest(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"stage": "Production", "comment": "metrics reviewed"}]},
    )

    stage: Literal["Staging", "Production"] = "Production"
    comment: str = Field(default="", max_length=2000)


class RollbackRequest(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "error rate doubled"}]}
    )

    reason: str = Field(min_length=1, max_length=2000)


def _ref(name: str, version: int) -> str:
    registry.validate_name(name)
    return f"{name}@{version}"


@router.get("/whoami", tags=["identity"], response_model=schemas.WhoAmI)
def whoami(who: Reader) -> dict[str, Any]:
    return {"name": who.name, "role": who.role.value, "kind": who.kind}


@router.get("/models", tags=["models"], response_model=list[schemas.ModelSummary])
def list_models(session: CurrentSession, _: Reader) -> list[dict[str, Any]]:
    registry.sync(session)  # models registered by plain MLflow code are models too
    return [m.to_dict() for m in registry.list_models(session)]


@router.post("/models/sync", tags=["models"], response_model=list[schemas.ModelVersion])
def sync_models(session: CurrentSession, _: Writer) -> list[dict[str, Any]]:
    """Record versions registered by plain MLflow code since the last look."""
    return [v.to_dict() for v in registry.sync(session)]


@router.get("/models/{name}/versions", tags=["models"], response_model=list[schemas.ModelVersion])
def list_versions(name: ModelName, session: CurrentSession, _: Reader) -> list[dict[str, Any]]:
    return [v.to_dict() for v in registry.list_versions(session, name)]


@router.get(
    "/models/{name}/versions/{version}", tags=["models"], response_model=schemas.ModelVersion
)
def get_version(
    name: ModelName, version: VersionNumber, session: CurrentSession, _: Reader
) -> dict[str, Any]:
    return registry.get_version(session, _ref(name, version)).to_dict()


@router.get(
    "/models/{name}/versions/{version}/lineage",
    tags=["lineage"],
    response_model=schemas.LineageReport,
)
def lineage(
    name: ModelName, version: VersionNumber, session: CurrentSession, _: Reader
) -> dict[str, Any]:
    return registry.lineage_report(session, _ref(name, version))


@router.get("/models/{name}/lineage/diff", tags=["lineage"], response_model=schemas.LineageDiff)
def lineage_diff(
    name: ModelName,
    session: CurrentSession,
    _: Reader,
    old: Annotated[int, Query(alias="from", ge=1, le=2**63 - 1)],
    new: Annotated[int, Query(alias="to", ge=1, le=2**63 - 1)],
) -> dict[str, Any]:
    return registry.lineage_diff(session, _ref(name, old), _ref(name, new))


@router.get(
    "/models/{name}/versions/{version}/transitions",
    tags=["lifecycle"],
    response_model=list[schemas.TransitionRecord],
)
def transitions(
    name: ModelName, version: VersionNumber, session: CurrentSession, _: Reader
) -> list[dict[str, Any]]:
    return registry.history(session, _ref(name, version))


@router.post(
    "/models/{name}/versions/{version}/transitions",
    tags=["lifecycle"],
    response_model=schemas.Transition,
)
def transition(
    name: ModelName,
    version: VersionNumber,
    body: TransitionRequest,
    session: CurrentSession,
    who: Mover,
) -> dict[str, Any]:
    """Move a version to a stage through its gates and approvals (422 with evidence if not)."""
    done = registry.transition(
        session,
        who,
        _ref(name, version),
        body.to_stage,
        reason=body.reason,
        override_reason=body.override_reason,
    )
    return done.to_dict()


@router.post(
    "/models/{name}/versions/{version}/approvals",
    tags=["lifecycle"],
    response_model=schemas.Approval,
)
def approve(
    name: ModelName,
    version: VersionNumber,
    body: ApprovalRequest,
    session: CurrentSession,
    who: Approver,
) -> dict[str, Any]:
    return registry.approve(session, who, _ref(name, version), body.stage, body.comment).to_dict()


@router.post("/models/{name}/rollback", tags=["lifecycle"], response_model=schemas.Transition)
def rollback(
    name: ModelName, body: RollbackRequest, session: CurrentSession, who: RollerBack
) -> dict[str, Any]:
    return registry.rollback(session, who, name, reason=body.reason).to_dict()


@router.get("/audit", tags=["audit"], response_model=list[schemas.AuditEntry])
def audit_log(
    session: CurrentSession,
    _: AuditReader,
    target: Annotated[str | None, Query(max_length=500)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    with session.store.read() as conn:
        return [
            {
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "payload": e.payload,
                "note": e.note,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in security.entries(conn, target=target, action=action, actor=actor, newest=limit)
        ]


@router.get("/audit/verify", tags=["audit"], response_model=schemas.ChainReport)
def audit_verify(session: CurrentSession, _: AuditReader) -> dict[str, Any]:
    with session.store.read() as conn:
        report = security.verify(conn)
    diverging = registry.check_divergences(session)
    return report.to_dict() | {
        "ok": report.ok and not diverging,
        "registry_divergences": [d.to_dict() for d in diverging],
    }


@router.get("/snapshots", tags=["snapshots"], response_model=list[schemas.Snapshot])
def list_snapshots(
    session: CurrentSession,
    _: DataReader,
    name: Annotated[str | None, Query(max_length=128)] = None,
) -> list[dict[str, Any]]:
    from modelward.data import list_snapshots

    return [s.to_dict() for s in list_snapshots(session, name)]


@router.get("/snapshots/{ref}", tags=["snapshots"], response_model=schemas.Snapshot)
def get_snapshot(ref: SnapshotRef, session: CurrentSession, _: DataReader) -> dict[str, Any]:
    from modelward import data

    return data.get_snapshot(session, ref).to_dict()

"""Approvals: an approver's sign-off on a version entering a stage.

The author of a version (who trained it, and who registered it) can never approve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from modelward import security
from modelward.errors import Conflict, InputError, PermissionDenied
from modelward.registry import versions
from modelward.registry.tables import approvals
from modelward.security import Permission, Principal

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["Approval", "approvals_for", "approve", "authors_of"]

APPROVABLE = ("Staging", "Production")


@dataclass(frozen=True)
class Approval:
    model_name: str
    version: int
    stage: str
    approver: str
    at: datetime
    comment: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "version": self.version,
            "stage": self.stage,
            "approver": self.approver,
            "at": self.at,
            "comment": self.comment,
        }


def authors_of(version: versions.ModelVersion) -> set[str]:
    return {a for a in (version.created_by, version.lineage.get("author")) if a}


def approvals_for(conn: Connection, name: str, version: int, stage: str) -> list[Approval]:
    rows = conn.execute(
        select(approvals)
        .where(
            approvals.c.model_name == name,
            approvals.c.version == version,
            approvals.c.stage == stage,
        )
        .order_by(approvals.c.id)
    )
    return [Approval(r.model_name, r.version, r.stage, r.approver, r.at, r.comment) for r in rows]


def approve(
    session: Session, principal: Principal, ref: str, stage: str, comment: str = ""
) -> Approval:
    """Record ``principal``'s approval of ``ref`` entering ``stage`` (with its audit entry)."""
    principal.require(Permission.MODELS_APPROVE)
    if stage not in APPROVABLE:
        raise InputError(
            f"stage: approvals are for {' or '.join(APPROVABLE)}, not {stage!r}", field="stage"
        )
    version = versions.get_version(session, ref)
    if principal.name in authors_of(version):
        raise PermissionDenied(
            f"{principal.name} is an author of {version.ref} and can never approve it; "
            "another approver must",
            rule="author-cannot-approve",
        )
    now = datetime.now(UTC)
    try:
        with session.store.transaction() as conn:
            conn.execute(
                insert(approvals).values(
                    model_name=version.model_name,
                    version=version.version,
                    stage=stage,
                    approver=principal.name,
                    at=now,
                    comment=comment[:2000],
                )
            )
            security.record(
                conn,
                actor=principal.name,
                action="model.approved",
                target=f"model:{version.ref}",
                payload={"stage": stage, "comment": comment[:2000]},
            )
    except IntegrityError:
        raise Conflict(
            f"{principal.name} has already approved {version.ref} for {stage}",
            model=version.model_name,
            version=version.version,
        ) from None
    return Approval(version.model_name, version.version, stage, principal.name, now, comment[:2000])

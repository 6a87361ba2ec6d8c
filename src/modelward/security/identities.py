"""Identities: people (``user``) and machines (``service``), each with one role."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Row, insert, select, update

from modelward.errors import Conflict, InputError, NotFound
from modelward.security import audit
from modelward.security.roles import Permission, Principal, Role, parse_role
from modelward.security.tables import identities

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "Identity",
    "create_identity",
    "disable",
    "find_identity",
    "get_identity",
    "list_identities",
    "set_role",
]

Kind = Literal["user", "service"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


@dataclass(frozen=True)
class Identity:
    id: str
    name: str
    kind: str
    role: Role
    created_by: str
    created_at: datetime
    disabled_at: datetime | None

    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.kind, self.id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "role": self.role.value,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "disabled_at": self.disabled_at,
        }


def _from_row(row: Row[Any]) -> Identity:
    return Identity(
        row.id, row.name, row.kind, Role(row.role), row.created_by, row.created_at, row.disabled_at
    )


def _validate_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise InputError(
            f"name: {name[:60]!r} is not a valid identity name; use 1-128 letters, digits, "
            "'_', '.', '@' or '-'",
            field="name",
        )
    return name


def create_identity(
    session: Session, actor: Principal, name: str, role: str, kind: Kind = "user"
) -> Identity:
    actor.require(Permission.IDENTITIES_ADMIN)
    with session.store.transaction() as conn:
        return create_in(conn, actor.name, name, role, kind)


def create_in(conn: Connection, actor: str, name: str, role: str, kind: Kind = "user") -> Identity:
    """Create inside the caller's transaction (used by ``bootstrap_admin``)."""
    _validate_name(name)
    parsed = parse_role(role)
    if kind not in ("user", "service"):
        raise InputError(f"kind: {kind!r} is not 'user' or 'service'", field="kind")
    if conn.execute(select(identities.c.id).where(identities.c.name == name)).first():
        raise Conflict(f"identity {name!r} already exists", name=name)
    ident_id = secrets.token_hex(8)
    now = datetime.now(UTC)
    conn.execute(
        insert(identities).values(
            id=ident_id,
            name=name,
            kind=kind,
            role=parsed.value,
            created_by=actor,
            created_at=now,
            disabled_at=None,
        )
    )
    audit.record(
        conn,
        actor=actor,
        action="identity.created",
        target=f"identity:{name}",
        payload={"kind": kind, "role": parsed.value},
    )
    return Identity(ident_id, name, kind, parsed, actor, now, None)


def find_identity(conn: Connection, name: str) -> Identity | None:
    row = conn.execute(select(identities).where(identities.c.name == name)).first()
    return _from_row(row) if row is not None else None


def get_identity(session: Session, name: str) -> Identity:
    with session.store.read() as conn:
        found = find_identity(conn, name)
    if found is None:
        raise NotFound(f"identity {name[:60]!r} does not exist", name=name[:60])
    return found


def list_identities(session: Session, actor: Principal) -> list[Identity]:
    """Every identity with its role (admins: who may do what is itself worth guarding)."""
    actor.require(Permission.IDENTITIES_ADMIN)
    with session.store.read() as conn:
        return [_from_row(r) for r in conn.execute(select(identities).order_by(identities.c.name))]


def set_role(session: Session, actor: Principal, name: str, role: str) -> Identity:
    actor.require(Permission.IDENTITIES_ADMIN)
    parsed = parse_role(role)
    with session.store.transaction() as conn:
        found = find_identity(conn, name)
        if found is None:
            raise NotFound(f"identity {name[:60]!r} does not exist", name=name[:60])
        conn.execute(
            update(identities).where(identities.c.id == found.id).values(role=parsed.value)
        )
        audit.record(
            conn,
            actor=actor.name,
            action="identity.role_changed",
            target=f"identity:{name}",
            payload={"from": found.role.value, "to": parsed.value},
        )
    return Identity(
        found.id,
        found.name,
        found.kind,
        parsed,
        found.created_by,
        found.created_at,
        found.disabled_at,
    )


def disable(session: Session, actor: Principal, name: str) -> Identity:
    """Disable an identity: its tokens stop working at once; the record stays for the audit."""
    actor.require(Permission.IDENTITIES_ADMIN)
    now = datetime.now(UTC)
    with session.store.transaction() as conn:
        found = find_identity(conn, name)
        if found is None:
            raise NotFound(f"identity {name[:60]!r} does not exist", name=name[:60])
        conn.execute(
            update(identities)
            .where(identities.c.id == found.id)
            .values(disabled_at=found.disabled_at or now)
        )
        audit.record(
            conn,
            actor=actor.name,
            action="identity.disabled",
            target=f"identity:{name}",
            payload={},
        )
    return Identity(
        found.id,
        found.name,
        found.kind,
        found.role,
        found.created_by,
        found.created_at,
        found.disabled_at or now,
    )

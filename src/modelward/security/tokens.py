"""API tokens: random, shown once, stored only as a SHA-256 hash, expiring and revocable.

A token reads ``mwt_<id>_<secret>``. The id finds the row; the secret is compared by hash
in constant time. The secret carries 256 random bits, so a plain (unsalted) SHA-256 is
enough: there is nothing to brute-force that is cheaper than guessing the token.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from modelward.errors import InputError, NotFound, Unauthenticated
from modelward.security import audit
from modelward.security.identities import Identity, create_in, find_identity
from modelward.security.roles import Permission, Principal, Role
from modelward.security.tables import api_tokens, identities

if TYPE_CHECKING:
    from modelward.config import Workspace
    from modelward.session import Session

__all__ = [
    "LOCAL_TOKEN_FILE",
    "TokenInfo",
    "authenticate",
    "bootstrap_admin",
    "issue_token",
    "list_tokens",
    "load_local_token",
    "principal_for_cli",
    "revoke_token",
    "save_local_token",
]

_PREFIX = "mwt"
LOCAL_TOKEN_FILE = "token"  # noqa: S105 - a file name; in the workspace home, mode 0600
_ENV_TOKEN = "MODELWARD_TOKEN"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class TokenInfo:
    id: str
    identity: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "identity": self.identity,
            "name": self.name,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_in(
    conn: Connection, actor: str, identity: Identity, name: str, expires_in: timedelta | None
) -> tuple[TokenInfo, str]:
    if expires_in is not None and expires_in <= timedelta(0):
        raise InputError("expires_in: must be positive", field="expires_in")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = now + expires_in if expires_in is not None else None
    conn.execute(
        insert(api_tokens).values(
            id=token_id,
            identity_id=identity.id,
            name=name[:128],
            secret_hash=_hash(secret),
            created_by=actor,
            created_at=now,
            expires_at=expires,
            revoked_at=None,
        )
    )
    audit.record(
        conn,
        actor=actor,
        action="token.issued",
        target=f"identity:{identity.name}",
        payload={
            "token_id": token_id,
            "name": name[:128],
            "expires_at": expires.isoformat() if expires else None,
        },
    )
    return TokenInfo(token_id, identity.name, name[:128], now, expires, None), (
        f"{_PREFIX}_{token_id}_{secret}"
    )


def issue_token(
    session: Session,
    actor: Principal,
    identity_name: str,
    name: str = "api",
    expires_in: timedelta | None = None,
) -> tuple[TokenInfo, str]:
    """Issue a token for ``identity_name``; the returned secret is never shown again."""
    actor.require(Permission.IDENTITIES_ADMIN)
    with session.store.transaction() as conn:
        identity = find_identity(conn, identity_name)
        if identity is None:
            raise NotFound(f"identity {identity_name[:60]!r} does not exist")
        return issue_in(conn, actor.name, identity, name, expires_in)


def revoke_token(session: Session, actor: Principal, token_id: str) -> TokenInfo:
    with session.store.transaction() as conn:
        row = conn.execute(
            select(api_tokens, identities.c.name.label("identity"))
            .join(identities, identities.c.id == api_tokens.c.identity_id)
            .where(api_tokens.c.id == token_id)
        ).first()
        if row is None:
            raise NotFound(f"token {token_id[:20]!r} does not exist", token_id=token_id[:20])
        if row.identity != actor.name:  # anyone may revoke their own tokens
            actor.require(Permission.IDENTITIES_ADMIN)
        now = row.revoked_at or datetime.now(UTC)
        conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=now))
        audit.record(
            conn,
            actor=actor.name,
            action="token.revoked",
            target=f"identity:{row.identity}",
            payload={"token_id": token_id},
        )
    return TokenInfo(row.id, row.identity, row.name, row.created_at, row.expires_at, now)


def list_tokens(
    session: Session, actor: Principal, identity_name: str | None = None
) -> list[TokenInfo]:
    """Tokens' ids, names and dates, never a secret. An admin may list anyone's tokens;
    anyone else only their own (``identity_name`` None or their own name)."""
    if not actor.can(Permission.IDENTITIES_ADMIN):
        if identity_name not in (None, actor.name):
            actor.require(Permission.IDENTITIES_ADMIN)  # refused, naming the permission
        identity_name = actor.name
    query = (
        select(api_tokens, identities.c.name.label("identity"))
        .join(identities, identities.c.id == api_tokens.c.identity_id)
        .order_by(api_tokens.c.created_at)
    )
    if identity_name is not None:
        query = query.where(identities.c.name == identity_name)
    with session.store.read() as conn:
        return [
            TokenInfo(r.id, r.identity, r.name, r.created_at, r.expires_at, r.revoked_at)
            for r in conn.execute(query)
        ]


def authenticate(conn: Connection, token: str | None, *, now: datetime | None = None) -> Principal:
    """The principal a token stands for; :class:`Unauthenticated` for anything else.

    The message does not say which check failed for a malformed or unknown token, so a
    caller cannot probe for valid ids.
    """
    if not token:
        raise Unauthenticated("an API token is required (Authorization: Bearer <token>)")
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX:
        raise Unauthenticated("the API token is not valid")
    _, token_id, secret = parts
    row = conn.execute(
        select(
            api_tokens,
            identities.c.name.label("identity_name"),
            identities.c.role,
            identities.c.kind,
            identities.c.disabled_at,
        )
        .join(identities, identities.c.id == api_tokens.c.identity_id)
        .where(api_tokens.c.id == token_id)
    ).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
        raise Unauthenticated("the API token is not valid")
    now = now or datetime.now(UTC)
    if row.revoked_at is not None:
        raise Unauthenticated("the API token was revoked", token_id=token_id)
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("the API token has expired", token_id=token_id)
    if row.disabled_at is not None:
        raise Unauthenticated("the identity of this API token is disabled", token_id=token_id)
    return Principal(row.identity_name, Role(row.role), row.kind, row.identity_id)


def save_local_token(workspace: Workspace, token: str) -> Path:
    """Write the token to ``.modelward/token`` (mode 0600 from the start, via rename)."""
    path = workspace.home / LOCAL_TOKEN_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_local_token(workspace: Workspace) -> str | None:
    if token := os.environ.get(_ENV_TOKEN):
        return token
    path = workspace.home / LOCAL_TOKEN_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def bootstrap_admin(session: Session) -> tuple[Identity, str]:
    """Make the local user an admin (if needed) and issue a fresh local CLI token.

    Called by ``modelward init``. The previous local token is revoked, the new one is saved
    to ``.modelward/token`` (mode 0600, git-ignored) and returned for display.
    """
    actor = session.actor
    with session.store.transaction() as conn:
        identity = find_identity(conn, actor)
        if identity is None:
            identity = create_in(conn, actor, actor, Role.ADMIN.value, "user")
        old = (
            conn.execute(
                select(api_tokens.c.id).where(
                    api_tokens.c.identity_id == identity.id,
                    api_tokens.c.name == "local-cli",
                    api_tokens.c.revoked_at.is_(None),
                )
            )
            .scalars()
            .all()
        )
        for token_id in old:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id)
                .values(revoked_at=datetime.now(UTC))
            )
            audit.record(
                conn,
                actor=actor,
                action="token.revoked",
                target=f"identity:{actor}",
                payload={"token_id": token_id, "why": "replaced by init"},
            )
        _, token = issue_in(conn, actor, identity, "local-cli", None)
    save_local_token(session.workspace, token)
    return identity, token


def principal_for_cli(session: Session) -> Principal:
    """Who runs a CLI command: ``$MODELWARD_TOKEN`` or ``.modelward/token``, checked."""
    token = load_local_token(session.workspace)
    if token is None:
        raise Unauthenticated(
            "no API token: set MODELWARD_TOKEN or run `modelward init` to create the local "
            "admin token in .modelward/token"
        )
    with session.store.read() as conn:
        return authenticate(conn, token)

"""``Annotated`` dependencies: the session, the authenticated principal, role checks.

Every route under ``/api/v1`` declares :func:`requires` (a test walks the routes and fails
on one that does not), so a route cannot be added without an authentication and role check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from modelward.security import Permission, Principal, authenticate
from modelward.session import Session

__all__ = ["PERMISSION_ATTR", "CurrentSession", "principal", "requires"]

PERMISSION_ATTR = "__modelward_permission__"
_bearer = HTTPBearer(auto_error=False, description="An API token: `modelward tokens issue`.")


def get_session(request: Request) -> Session:
    session: Session = request.app.state.session
    return session


CurrentSession = Annotated[Session, Depends(get_session)]


def principal(
    session: CurrentSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The token's principal; 401 (problem+json) for a missing, wrong, expired or revoked one."""
    with session.store.read() as conn:
        return authenticate(conn, credentials.credentials if credentials else None)


def requires(permission: Permission) -> Callable[..., Principal]:
    """A dependency that authenticates and then checks ``permission`` (403 if lacking)."""

    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        who.require(permission)
        return who

    setattr(check, PERMISSION_ATTR, permission)
    check.__name__ = f"requires_{permission.value.replace(':', '_')}"
    return check

"""``Annotated`` dependencies: the session, the authenticated principal, role checks.

Every route under ``/api/v1`` declares :func:`requires` (a test walks the routes and fails
on one that does not), so a route cannot be added without an authentication and role check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from modelward.api.guard import PRINCIPAL_STATE
from modelward.security.roles import Permission, Principal
from modelward.security.tokens import authenticate
from modelward.session import Session

__all__ = ["PERMISSION_ATTR", "CurrentSession", "principal", "requires"]

PERMISSION_ATTR = "__modelward_permission__"
_bearer = HTTPBearer(auto_error=False, description="An API token: `modelward tokens issue`.")


def get_session(request: Request) -> Session:
    session: Session = request.app.state.session
    return session


CurrentSession = Annotated[Session, Depends(get_session)]


def principal(
    request: Request,
    session: CurrentSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The token's principal; 401 (problem+json) for a missing, wrong, expired or revoked one.

    The guard (:mod:`modelward.api.guard`) has already checked the token before the body
    was read; its answer is reused. Without the guard (an app assembled by hand) the
    token is checked here.
    """
    checked = getattr(request.state, PRINCIPAL_STATE, None)
    if isinstance(checked, Principal):
        return checked
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

"""``Annotated`` dependencies: the session, the authenticated principal, role checks.

Every route under ``/api/v1`` declares :func:`requires` (a test walks the routes and fails
on one that does not), so a route cannot be added without an authentication and role check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from modelward.api.guard import PRINCIPAL_STATE
from modelward.errors import InputError
from modelward.security import Permission, Principal, authenticate
from modelward.session import Session

__all__ = ["PERMISSION_ATTR", "CurrentSession", "known_query_only", "principal", "requires"]

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


_QUERY_NAMES: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def known_query_only(request: Request) -> None:
    """Refuse query parameters the route does not declare (422 naming them), so a typo such
    as ``?limt=5`` is an error rather than silently the default."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _QUERY_NAMES.get(id(route))
    if known is None:
        known = _QUERY_NAMES[id(route)] = frozenset(_query_names(route.dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        shown = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise InputError(
            f"unknown query parameter(s) {shown}; this route takes "
            f"{', '.join(sorted(known)) or 'none'}",
            field=f"query.{unknown[0][:40]}",
        )

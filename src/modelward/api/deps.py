"""``Annotated`` dependencies: the session, the authenticated principal, role checks.

Every route under ``/api/v1`` declares :func:`requires` (a test walks the routes and fails
on one that does not), so a route cannot be added without an authentication and role check.
"""

from __future__ import annotations

from collections import Counter, abc
from collections.abc import Callable
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

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


@dataclass(frozen=True)
class _QueryShape:
    known: frozenset[str]  # every query parameter the route declares
    many: frozenset[str]  # those that take a list (``?segment=a&segment=b``)


_QUERY_SHAPES: dict[int, _QueryShape] = {}
_SEQUENCES = (list, tuple, set, frozenset, abc.Sequence, abc.Set)


def _takes_many(annotation: Any) -> bool:
    """``list[str] | None`` and ``Annotated[list[str], Query()]`` take many; ``str`` one."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    kind = origin or annotation
    if not isinstance(kind, type) or issubclass(kind, str | bytes):  # a str is a Sequence
        return False
    return issubclass(kind, _SEQUENCES)


def _query_params(dependant: Dependant) -> list[Any]:
    params = list(dependant.query_params)
    for sub in dependant.dependencies:
        params += _query_params(sub)
    return params


def _shape(route: APIRoute) -> _QueryShape:
    shape = _QUERY_SHAPES.get(id(route))
    if shape is None:
        params = _query_params(route.dependant)
        shape = _QUERY_SHAPES[id(route)] = _QueryShape(
            known=frozenset(p.alias for p in params),
            many=frozenset(p.alias for p in params if _takes_many(p.field_info.annotation)),
        )
    return shape


def known_query_only(request: Request) -> None:
    """Refuse query parameters the route does not declare, and a one-value parameter given
    more than once (422 naming them), so a typo such as ``?limt=5`` is an error rather than
    silently the default, and ``?name=a&name=b`` is not silently ``b``."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    shape = _shape(route)
    unknown = sorted(set(request.query_params) - shape.known)
    if unknown:
        shown = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise InputError(
            f"unknown query parameter(s) {shown}; this route takes "
            f"{', '.join(sorted(shape.known)) or 'none'}",
            field=f"query.{unknown[0][:40]}",
        )
    given = Counter(name for name, _ in request.query_params.multi_items())
    repeated = sorted(n for n, times in given.items() if times > 1 and n not in shape.many)
    if repeated:
        name = repeated[0]
        raise InputError(
            f"query parameter {name!r} is given {given[name]} times; it takes one value",
            field=f"query.{name}",
        )

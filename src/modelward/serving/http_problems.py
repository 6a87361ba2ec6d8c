"""Error answers of the FastAPI servers (the REST API and the feature server), in one place.

Both answer an error with the RFC 9457 ``application/problem+json`` document of
:mod:`modelward.errors` (``ModelwardError.to_problem``), as the gateway does: a refusal
reads the same whichever server gave it. This module maps the framework's own errors
(request validation, unknown routes, wrong methods) onto that document and installs the
handlers on an app.

What a caller sees never names the metadata database (host, user, database name): a
:class:`~modelward.errors.StoreUnavailable` answer says only that the store is
unavailable and when to retry; the full (password-free) reason goes to the server log.
The online feature store's outage keeps its message: it names the store's kind and its
timeout, never its address.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelward.errors import (
    PROBLEM_JSON,
    InternalError,
    ModelwardError,
    OnlineStoreUnavailable,
    RateLimited,
    StoreUnavailable,
    problem_document,
)

__all__ = ["install_problem_handlers", "problem_response", "problem_response_for"]

_log = logging.getLogger("modelward.http")
#: seconds a client is asked to wait when a store is unavailable
_RETRY_STORE_S = 5
_NOT_JSON = "the request body is not valid JSON (UTF-8)"


def _answer(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    status = int(body["status"])
    all_headers = dict(headers or {})
    if status == 401:
        all_headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=all_headers)


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem answer for an error that is not a ``ModelwardError``."""
    error = str(extra.pop("error", "HTTPError"))
    return _answer(problem_document(status, title, detail, error=error, extensions=extra), headers)


def problem_response_for(exc: ModelwardError) -> JSONResponse:
    """The answer for a modelward error (also used before routing, by the API's guard)."""
    if isinstance(exc, StoreUnavailable):
        body = exc.to_problem()
        if not isinstance(exc, OnlineStoreUnavailable):
            _log.warning("answered 503: %s", exc.message)
            body = problem_document(
                exc.http_status,
                exc.title,
                "the service cannot reach its storage right now; try again later",
                error=type(exc).__name__,
            )
        return _answer(body, {"Retry-After": str(_RETRY_STORE_S)})
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return _answer(exc.to_problem(), headers)


async def _modelward_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelwardError)
    return problem_response_for(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        # not a value that breaks a rule, a body that cannot be read: 400, as the gateway says
        return problem_response(400, "bad request", _NOT_JSON, error="InputError")
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "rule": str(e["msg"])} for e in exc.errors()
    ]
    # bounded: a body with thousands of bad values gets a readable answer, not a huge one
    detail = "; ".join(f"{e['field']}: {e['rule']}" for e in errors[:10])
    return problem_response(422, "invalid input", detail, error="InputError", errors=errors[:100])


def _allowed(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route's,
    so a path with a GET and a POST route would claim to allow only one of them)."""
    from starlette.routing import Route

    path = request.url.path
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    try:
        title = HTTPStatus(exc.status_code).phrase.lower()
    except ValueError:
        title = "http error"
    # keep what the framework says with it, e.g. the Allow header of a 405
    headers = dict(exc.headers or {})
    detail = str(exc.detail)
    if exc.status_code == 405:
        headers["Allow"] = _allowed(request)
    elif exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = _NOT_JSON  # FastAPI's words for a body that is not UTF-8
    return problem_response(exc.status_code, title, detail, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("internal error while serving %s", request.url.path[:100], exc_info=exc)
    return _answer(InternalError().to_problem())


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with the problem document (500 without internals)."""
    app.add_exception_handler(ModelwardError, _modelward_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

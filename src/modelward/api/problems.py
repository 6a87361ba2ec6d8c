"""Errors as RFC 9457 ``application/problem+json``: the document of :mod:`modelward.errors`.

The REST API and the gateway answer with the same document (``ModelwardError.to_problem``):
a refusal reads the same whichever server gave it. This module maps the framework's own
errors (request validation, unknown routes) onto it and installs the handlers.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelward.errors import PROBLEM_JSON, InternalError, ModelwardError, problem_document

__all__ = ["PROBLEM_JSON", "install", "problem"]

_log = logging.getLogger(__name__)


def _answer(body: dict[str, Any]) -> JSONResponse:
    status = int(body["status"])
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem answer for an error that is not a ``ModelwardError``."""
    error = str(extra.pop("error", "HTTPError"))
    return _answer(problem_document(status, title, detail, error=error, extensions=extra))


async def _modelward_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelwardError)
    return _answer(exc.to_problem())


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": ".".join(str(p) for p in e["loc"]), "rule": e["msg"]} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['rule']}" for e in errors)
    return problem(422, "invalid input", detail, error="InputError", errors=errors)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, "http error", str(exc.detail))


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    _log.exception("internal error while serving a request", exc_info=exc)
    return _answer(InternalError().to_problem())


def install(app: FastAPI) -> None:
    app.add_exception_handler(ModelwardError, _modelward_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

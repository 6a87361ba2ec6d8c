"""Errors as RFC 9457 ``application/problem+json``, mapped once from ``ModelwardError``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelward.errors import ModelwardError

__all__ = ["PROBLEM_JSON", "install", "problem"]

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger(__name__)


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _modelward_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelwardError)
    return problem(
        exc.http_status,
        exc.title,
        exc.message,
        error=type(exc).__name__,
        **({"details": exc.details} if exc.details else {}),
    )


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
    return problem(500, "internal error", "an internal error occurred; it was logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ModelwardError, _modelward_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

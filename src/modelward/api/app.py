"""The FastAPI application: ``create_app(session)``; nothing is opened at import time.

The OpenAPI document is the contract schemathesis checks the server against (every
status a route can answer, with the ``application/problem+json`` body the server really
sends), and ``/docs`` and ``/redoc`` load Swagger UI and Redoc from an installed package
(``fastapi-offline``), so they work without network access. ``[server] docs = false``
removes all three.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from modelward.api import alerts, endpoints, labels, metrics, releases, retraining
from modelward.api import schemas as schemas_module
from modelward.api.guard import Guard
from modelward.api.routes import router
from modelward.api.schemas import PROBLEM_EXAMPLE, Problem
from modelward.errors import PROBLEM_JSON
from modelward.serving import install_problem_handlers
from modelward.session import Session, open_session

__all__ = ["create_app", "create_app_from_env"]

_DESCRIPTION = (
    "Every `/api/v1` route needs `Authorization: Bearer <token>` (`modelward tokens issue`); "
    "the token is checked before anything else of the request. Errors are "
    "`application/problem+json` (RFC 9457). Each token may make `[server] "
    "rate_limit_per_minute` requests a minute (429 with `Retry-After` past it); bodies are "
    "limited to `[server] max_body_bytes` (413)."
)

# status -> when a route answers it; every route can answer the first group
_ALWAYS = {
    "401": "No token, or a token that is wrong, expired, revoked or of a disabled identity.",
    "403": "The token's role lacks the permission this route needs.",
    "413": "The request body is over `[server] max_body_bytes`.",
    "429": "Too many requests for this token; see `Retry-After`.",
    "503": "The metadata database is unavailable; see `Retry-After`.",
}
_NOT_JSON = "The body is not JSON (or not UTF-8)."
_INVALID = "A parameter or the body is invalid: `errors` names each field and rule."
_NOT_FOUND = "The model, version, snapshot or endpoint named in the path does not exist."
_CONFLICT = "The state changed under the request (a duplicate, a race, a stale version)."


def create_app(session: Session) -> FastAPI:
    """The API over ``session``'s workspace; OpenAPI docs at ``/docs`` and ``/openapi.json``."""
    settings = session.workspace.settings.server
    meta: dict[str, Any] = {
        "title": "modelward",
        "version": "1",
        "summary": "Models, lineage, gated stage transitions, approvals and the audit log.",
        "description": _DESCRIPTION,
        "lifespan": _lifespan(session),
    }
    if settings.docs:
        from fastapi_offline import FastAPIOffline

        app = FastAPIOffline(**meta)
    else:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, **meta)
    app.state.session = session
    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(endpoints.router)
    app.include_router(releases.router)
    app.include_router(labels.router)
    app.include_router(alerts.router)
    app.include_router(metrics.router)
    app.include_router(retraining.router)
    app.add_middleware(Guard, session=session, settings=settings)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_openapi(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _lifespan(session: Session) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """With ``[rollout] controller = true`` each server worker drives live releases on a
    background thread (a lease per release: one driver, however many workers); it stops,
    giving its leases up, when the server shuts down."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner = None
        if session.workspace.settings.rollout.controller:
            from modelward.rollout import ControllerThread

            runner = ControllerThread.for_workspace(session)
            runner.start()
        app.state.rollout_controller = runner
        try:
            yield
        finally:
            if runner is not None:
                await asyncio.to_thread(runner.stop)

    return lifespan


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            PROBLEM_JSON: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": PROBLEM_EXAMPLE,
            }
        },
    }


def complete_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """Every operation's error answers as the server sends them: ``application/problem+json``
    with the :class:`Problem` schema, for each status the operation can return (FastAPI's
    own 422 entry says ``application/json`` and a different shape)."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    examples = _model_examples()
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            _example_answer(responses, schemas, examples)
            for status, why in _ALWAYS.items():
                responses[status] = _problem(why)
            responses["422"] = _problem(_INVALID)
            if "requestBody" in operation:
                responses["400"] = _problem(_NOT_JSON)
            if "{" in path:
                responses["404"] = _problem(_NOT_FOUND)
            if method in ("post", "put", "delete"):
                responses["409"] = _problem(_CONFLICT)
            for status in ("429", "503"):
                responses[status]["headers"] = {
                    "Retry-After": {
                        "description": "Seconds to wait before trying again.",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                }
            responses["401"]["headers"] = {
                "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}
            }
    return spec


def _model_examples() -> dict[str, list[Any]]:
    """Each answer model's examples, from the model itself: FastAPI drops the null members
    of examples when it writes the document, which would leave out required fields."""
    from pydantic import BaseModel

    found: dict[str, list[Any]] = {}
    for value in vars(schemas_module).values():
        if isinstance(value, type) and issubclass(value, BaseModel):
            extra = value.model_config.get("json_schema_extra")
            given = extra.get("examples") if isinstance(extra, dict) else None
            if isinstance(given, list):
                found[value.__name__] = given
    return found


def _example_answer(
    responses: dict[str, Any], schemas: dict[str, Any], examples: dict[str, list[Any]]
) -> None:
    """The success answer's example: its model's first example (a list of one for a list)."""
    for status, answer in responses.items():
        content = answer.get("content", {}).get("application/json")
        if not status.startswith("2") or content is None:
            continue
        schema = content.get("schema", {})
        many = schema.get("type") == "array"
        ref = (schema.get("items") if many else schema) or {}
        name = str(ref.get("$ref", "")).rsplit("/", 1)[-1]
        if name in examples and name in schemas:
            schemas[name]["examples"] = examples[name]
            content["example"] = [examples[name][0]] if many else examples[name][0]


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` workers: the workspace from ``$MODELWARD_WORKSPACE``."""
    return create_app(open_session())

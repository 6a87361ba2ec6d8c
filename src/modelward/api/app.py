"""The FastAPI application: ``create_app(session)``; nothing is opened at import time."""

from __future__ import annotations

from fastapi import FastAPI

from modelward.api import endpoints, problems
from modelward.api.routes import router
from modelward.session import Session, open_session

__all__ = ["create_app", "create_app_from_env"]


def create_app(session: Session) -> FastAPI:
    """The API over ``session``'s workspace; OpenAPI docs at ``/docs`` and ``/openapi.json``."""
    app = FastAPI(
        title="modelward",
        version="1",
        summary="Models, lineage, gated stage transitions, approvals and the audit log.",
        description="Every `/api/v1` route needs `Authorization: Bearer <token>` "
        "(`modelward tokens issue`). Errors are `application/problem+json`.",
    )
    app.state.session = session
    problems.install(app)
    app.include_router(router)
    app.include_router(endpoints.router)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` workers: the workspace from ``$MODELWARD_WORKSPACE``."""
    return create_app(open_session())

"""The dashboard's pages, one module per context they show."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["routers"]


def routers() -> list[APIRouter]:
    from modelward.web.pages import (
        audit,
        catalog,
        endpoints,
        home,
        models,
        monitoring,
        pipelines,
        shadow,
        signin,
    )

    return [
        signin.router,
        home.router,
        models.router,
        endpoints.router,
        shadow.router,
        monitoring.router,
        pipelines.router,
        catalog.router,
        audit.router,
    ]

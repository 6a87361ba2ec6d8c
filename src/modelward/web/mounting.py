"""Building the dashboard application and putting it on the REST API's server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelward.errors import ModelwardError, PermissionDenied
from modelward.session import Session
from modelward.web import cookies, pages
from modelward.web.rendering import (
    CSP,
    MOUNT,
    BadForm,
    SignInRequired,
    environment,
    render,
)

__all__ = ["create_dashboard", "mount_dashboard"]

_STATIC = Path(__file__).parent / "static"


def create_dashboard(session: Session) -> FastAPI:
    """The dashboard over ``session``'s workspace, to mount at :data:`MOUNT`."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.session = session
    app.state.templates = Jinja2Templates(env=environment())
    app.state.cookies = cookies.CookieJar(cookies.signing_key(session.workspace.home))
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    for router in pages.routers():
        app.include_router(router)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[..., Any]) -> Response:
        response: Response = await call_next(request)
        response.headers["content-security-policy"] = CSP
        if request.url.path.startswith(f"{MOUNT}/static/"):
            response.headers["cache-control"] = "public, max-age=3600"
        else:
            response.headers["cache-control"] = "no-store"
        return response

    @app.exception_handler(SignInRequired)
    async def to_signin(request: Request, exc: SignInRequired) -> Response:
        target = request.url.path.removeprefix(MOUNT) or "/"
        response = RedirectResponse(f"{MOUNT}/signin?next={quote(target)}", status_code=303)
        if exc.reason:
            jar: cookies.CookieJar = request.app.state.cookies
            response.set_cookie(
                cookies.FLASH_COOKIE,
                jar.flash("error", f"signed out: {exc.reason}"),
                max_age=600,
                path=MOUNT,
                httponly=True,
                samesite="strict",
            )
        response.delete_cookie(cookies.SESSION_COOKIE, path=MOUNT)
        return response

    @app.exception_handler(BadForm)
    async def bad_form(request: Request, exc: BadForm) -> Response:
        return render(
            request,
            "error.html",
            403,
            who=None,
            title="Form refused",
            message="The form's CSRF value is missing or stale: reload the page and try again.",
        )

    @app.exception_handler(ModelwardError)
    async def refused(request: Request, exc: ModelwardError) -> Response:
        title = "Not allowed" if isinstance(exc, PermissionDenied) else type(exc).__name__
        return render(
            request, "error.html", exc.http_status, who=None, title=title, message=exc.message
        )

    @app.exception_handler(RequestValidationError)
    async def bad_address(request: Request, exc: RequestValidationError) -> Response:
        where = ", ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()[:3]
        )
        return render(
            request, "error.html", 404, who=None, title="No such page", message=where[:500]
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return render(
            request,
            "error.html",
            exc.status_code,
            who=None,
            title=f"HTTP {exc.status_code}",
            message=str(exc.detail),
        )

    return app


def mount_dashboard(app: FastAPI, session: Session) -> FastAPI:
    """Mount the dashboard at ``/ui`` on ``app`` and send ``/`` there; returns ``app``."""
    app.mount(MOUNT, create_dashboard(session))

    @app.get("/", include_in_schema=False)
    def _home() -> RedirectResponse:
        return RedirectResponse(MOUNT + "/", status_code=307)

    return app

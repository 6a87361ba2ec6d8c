"""What every dashboard page shares: who is signed in, rendering, forms and their CSRF check.

Server-rendered pages (Jinja2 templates and a stylesheet shipped in the package, charts
as inline SVG) and no script at all, so the Content-Security-Policy allows nothing but
the page's own stylesheet and forms posting back to it. Every page reads the signed-in
principal from the session cookie (:mod:`modelward.web.cookies`) and checks the
permission it needs; every form carries the session's CSRF value and calls the same
public function the CLI and the REST API call, so gates, four-eyes approvals and audit
entries are the ones those write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from modelward.durations import show_duration
from modelward.errors import ModelwardError, Unauthenticated
from modelward.security import Permission, Principal, authenticate
from modelward.session import Session
from modelward.web import cookies

__all__ = [
    "CSP",
    "MOUNT",
    "BadForm",
    "Page",
    "SignInRequired",
    "act",
    "done",
    "environment",
    "form_of",
    "render",
    "signed_in",
]

#: where the dashboard lives on the server (the REST API is under /api/v1)
MOUNT = "/ui"
# pages load only their own stylesheet and post forms only to themselves; no script runs
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_MAX_FORM_BYTES = 64 * 1024


class SignInRequired(Exception):
    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason


class BadForm(Exception):
    pass


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("modelward.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = show_duration
    env.filters["when"] = _when
    env.filters["pct"] = lambda v: "-" if v is None else f"{100 * float(v):.1f}%"
    env.filters["num"] = _num
    env.filters["q"] = lambda v: quote(str(v), safe="")
    return env


def _when(value: Any) -> str:
    if value is None:
        return "-"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text[:19].replace("T", " ")


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}"


class Page:
    """What a route hands back to render: the request, who is signed in, the CSRF value."""

    def __init__(self, request: Request, who: Principal, csrf: str) -> None:
        self.request = request
        self.who = who
        self.csrf = csrf

    @property
    def session(self) -> Session:
        session: Session = self.request.app.state.session
        return session

    def can(self, permission: Permission) -> bool:
        return self.who.can(permission)

    def need(self, permission: Permission) -> None:
        self.who.require(permission)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return render(self.request, template, status, who=self.who, csrf=self.csrf, **context)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    jar: cookies.CookieJar = request.app.state.cookies
    flash = jar.read_flash(request.cookies.get(cookies.FLASH_COOKIE))
    response = templates.TemplateResponse(
        request,
        template,
        {"flash": flash, "base": MOUNT, "Permission": Permission, **context},
        status_code=status,
    )
    if flash is not None:
        response.delete_cookie(cookies.FLASH_COOKIE, path=MOUNT)
    return response


def signed_in(request: Request) -> Page:
    """The page's principal from the session cookie; sign-in otherwise (a dependency)."""
    jar: cookies.CookieJar = request.app.state.cookies
    held = jar.read_session(request.cookies.get(cookies.SESSION_COOKIE))
    if held is None:
        raise SignInRequired()
    session: Session = request.app.state.session
    try:
        with session.store.read() as conn:
            who = authenticate(conn, held.token)
    except Unauthenticated as exc:
        raise SignInRequired(exc.message) from None
    return Page(request, who, held.csrf)


async def form_of(request: Request, page: Page) -> dict[str, str]:
    """The posted form (URL-encoded), refused unless it carries the session's CSRF value."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise BadForm()
    fields = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if not cookies.same_secret(fields.get("csrf"), page.csrf):
        raise BadForm()
    return fields


def done(page: Page, to: str, kind: str, text: str) -> RedirectResponse:
    """Back to ``to`` (a dashboard path) with a message shown once there (POST-redirect-GET)."""
    jar: cookies.CookieJar = page.request.app.state.cookies
    response = RedirectResponse(MOUNT + to, status_code=303)
    response.set_cookie(
        cookies.FLASH_COOKIE,
        jar.flash(kind, text),
        max_age=600,
        path=MOUNT,
        httponly=True,
        samesite="strict",
        secure=page.request.url.scheme == "https",
    )
    return response


def act(page: Page, to: str, action: Callable[[], str]) -> RedirectResponse:
    """Run ``action`` (a call of a context's public function); its refusal is the message."""
    try:
        return done(page, to, "ok", action())
    except ModelwardError as exc:
        return done(page, to, "error", exc.message)

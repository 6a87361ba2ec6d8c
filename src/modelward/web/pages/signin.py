"""Sign-in (an API token for a session cookie) and sign-out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from modelward.errors import Unauthenticated
from modelward.security import authenticate
from modelward.session import Session
from modelward.web import cookies
from modelward.web.rendering import MOUNT, Page, form_of, render, signed_in

__all__ = ["router"]

router = APIRouter()


def _safe_next(target: str | None) -> str:
    # only a path of the dashboard itself: never an absolute URL or another site
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/signin")
def signin_form(
    request: Request, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    jar: cookies.CookieJar = request.app.state.cookies
    value, csrf = jar.new_signin()
    response = render(request, "signin.html", who=None, csrf=csrf, next=_safe_next(next))
    response.set_cookie(
        cookies.SIGNIN_COOKIE,
        value,
        max_age=3600,
        path=MOUNT,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the token once and set the session cookie; a bad token is the form again."""
    jar: cookies.CookieJar = request.app.state.cookies
    body = (await request.body())[:8192]
    fields = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    expected = jar.read_signin(request.cookies.get(cookies.SIGNIN_COOKIE))
    target = _safe_next(fields.get("next"))
    if expected is None or not cookies.same_secret(fields.get("csrf"), expected):
        return RedirectResponse(f"{MOUNT}/signin?next={target}", status_code=303)
    token = fields.get("token", "").strip()
    session: Session = request.app.state.session
    try:
        with session.store.read() as conn:
            authenticate(conn, token or None)
    except Unauthenticated as exc:
        # the message names the rule (unknown, expired, revoked), never the token
        return render(
            request,
            "signin.html",
            401,
            who=None,
            csrf=expected,
            next=target,
            refused=exc.message,
        )
    value, _ = jar.new_session(token)
    response: Response = RedirectResponse(MOUNT + target, status_code=303)
    response.set_cookie(
        cookies.SESSION_COOKIE,
        value,
        max_age=cookies.SESSION_MAX_AGE_S,
        path=MOUNT,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(cookies.SIGNIN_COOKIE, path=MOUNT)
    return response


@router.post("/signout")
async def signout(request: Request, page: Annotated[Page, Depends(signed_in)]) -> Response:
    await form_of(request, page)
    response = RedirectResponse(f"{MOUNT}/signin", status_code=303)
    response.delete_cookie(cookies.SESSION_COOKIE, path=MOUNT)
    return response

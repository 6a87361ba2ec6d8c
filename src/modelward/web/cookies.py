"""The dashboard's sign-in session: an API token exchanged for a signed cookie.

The cookie carries the token (so every page re-checks it with
:func:`modelward.security.authenticate`: a revoked or expired token, or a disabled
identity, ends the session at the next click) and a random CSRF value that every form
sends back. It is signed with a key kept in the workspace home (``dashboard.key``, mode
0600, shared by every worker), set ``HttpOnly`` (no script can read it),
``SameSite=Strict`` (no other site can make the browser send it) and ``Secure`` over
HTTPS, and it expires after :data:`SESSION_MAX_AGE_S`.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = [
    "FLASH_COOKIE",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE_S",
    "SIGNIN_COOKIE",
    "CookieJar",
    "SignedIn",
    "same_secret",
    "signing_key",
]

SESSION_COOKIE = "mw_session"
#: the CSRF value of the sign-in form, before there is a session
SIGNIN_COOKIE = "mw_signin"
#: one message shown once on the next page (an action's result or refusal)
FLASH_COOKIE = "mw_flash"
SESSION_MAX_AGE_S = 8 * 3600
_KEY_FILE = "dashboard.key"


def signing_key(home: Path) -> bytes:
    """The workspace's cookie signing key, created on first use.

    Written to a temporary file and linked into place, so two workers starting at once
    agree on one key (the second link fails and that worker reads the first's).
    """
    path = home / _KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes().strip()
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    tmp = home / f".{_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()


@dataclass(frozen=True)
class SignedIn:
    """What a valid session cookie holds."""

    token: str
    csrf: str


class CookieJar:
    """Signs and reads the dashboard's cookies with one key."""

    def __init__(self, key: bytes) -> None:
        self._session = URLSafeTimedSerializer(key, salt="modelward.dashboard.session")
        self._signin = URLSafeTimedSerializer(key, salt="modelward.dashboard.signin")
        self._flash = URLSafeTimedSerializer(key, salt="modelward.dashboard.flash")

    def new_session(self, token: str) -> tuple[str, SignedIn]:
        signed_in = SignedIn(token, secrets.token_urlsafe(24))
        return self._session.dumps({"t": token, "c": signed_in.csrf}), signed_in

    def read_session(self, value: str | None) -> SignedIn | None:
        data = _loads(self._session, value, SESSION_MAX_AGE_S)
        if not isinstance(data, dict) or not {"t", "c"} <= data.keys():
            return None
        return SignedIn(str(data["t"]), str(data["c"]))

    def new_signin(self) -> tuple[str, str]:
        csrf = secrets.token_urlsafe(24)
        return self._signin.dumps(csrf), csrf

    def read_signin(self, value: str | None) -> str | None:
        data = _loads(self._signin, value, 3600)
        return data if isinstance(data, str) else None

    def flash(self, kind: str, text: str) -> str:
        return self._flash.dumps({"kind": kind, "text": text[:2000]})

    def read_flash(self, value: str | None) -> dict[str, str] | None:
        data = _loads(self._flash, value, 600)
        if not isinstance(data, dict):
            return None
        return {"kind": str(data.get("kind", "info")), "text": str(data.get("text", ""))}


def _loads(serializer: URLSafeTimedSerializer, value: str | None, max_age: int) -> Any:
    if not value:
        return None
    try:
        return serializer.loads(value, max_age=max_age)
    except BadSignature:  # tampered, from another workspace's key, or expired
        return None


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a form's CSRF value with the session's."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())

"""Each rule of token authentication, caught by itself.

Every case starts from a token that authenticates, then breaks exactly one thing (revoked,
expired, identity disabled, secret wrong) with an identity whose role could do anything:
a refusal can then only come from the rule under test, not from a missing permission.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from modelward.config import Workspace
from modelward.errors import Unauthenticated
from modelward.security import identities, tokens
from modelward.security.roles import Permission, Principal, Role
from modelward.security.tables import api_tokens
from modelward.session import Session

ROOT = Principal("root", Role.ADMIN)


@pytest.fixture
def session(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    monkeypatch.delenv("MODELWARD_TOKEN", raising=False)
    with Session(workspace) as s:
        yield s


@pytest.fixture
def admin_token(session: Session) -> str:
    identities.create_identity(session, ROOT, "ada", "admin")
    _, token = tokens.issue_token(session, ROOT, "ada", "ci", timedelta(hours=1))
    return token


def _authenticate(session: Session, token: str, now: datetime | None = None) -> Principal:
    with session.store.read() as conn:
        return tokens.authenticate(conn, token, now=now)


def test_a_fresh_token_stands_for_its_identity(session: Session, admin_token: str) -> None:
    who = _authenticate(session, admin_token)
    assert (who.name, who.role, who.kind) == ("ada", Role.ADMIN, "user")
    assert who.can(Permission.IDENTITIES_ADMIN)


def test_a_disabled_identity_is_refused_by_its_own_rule(session: Session, admin_token: str) -> None:
    assert _authenticate(session, admin_token).role is Role.ADMIN
    identities.disable(session, ROOT, "ada")
    with pytest.raises(Unauthenticated, match="identity of this API token is disabled") as info:
        _authenticate(session, admin_token)
    assert info.value.http_status == 401
    # the token itself is neither revoked nor expired: only the identity rule refused it
    (info_row,) = tokens.list_tokens(session, ROOT, "ada")
    assert info_row.revoked_at is None
    assert info_row.expires_at is not None and info_row.expires_at > datetime.now(UTC)


def test_a_revoked_token_is_refused(session: Session, admin_token: str) -> None:
    token_id = admin_token.split("_")[1]
    tokens.revoke_token(session, ROOT, token_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        _authenticate(session, admin_token)


def test_expiry_is_exact_to_the_instant(session: Session, admin_token: str) -> None:
    token_id = admin_token.split("_")[1]
    with session.store.read() as conn:
        expires = conn.execute(
            select(api_tokens.c.expires_at).where(api_tokens.c.id == token_id)
        ).scalar_one()
    if expires.tzinfo is None:  # SQLite hands back naive UTC
        expires = expires.replace(tzinfo=UTC)
    tick = timedelta(microseconds=1)
    assert _authenticate(session, admin_token, now=expires - tick).name == "ada"
    with pytest.raises(Unauthenticated, match="expired"):
        _authenticate(session, admin_token, now=expires)
    with pytest.raises(Unauthenticated, match="expired"):
        _authenticate(session, admin_token, now=expires + tick)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), id="secret changed"),
        pytest.param(lambda t: t.replace("mwt_", "mwx_", 1), id="prefix changed"),
        pytest.param(lambda t: "_".join(t.split("_")[:2]), id="secret missing"),
        pytest.param(lambda t: "mwt_ffffffffffff_" + t.split("_", 2)[2], id="unknown id"),
        pytest.param(lambda t: "", id="empty"),
    ],
)
def test_a_mangled_token_is_refused_without_saying_why(
    session: Session, admin_token: str, mangle: object
) -> None:
    bad = mangle(admin_token)  # type: ignore[operator]
    with pytest.raises(Unauthenticated) as info:
        _authenticate(session, bad)
    assert "revoked" not in str(info.value) and "expired" not in str(info.value)
    assert admin_token.split("_", 2)[2] not in str(info.value)


def test_surrounding_whitespace_is_tolerated(session: Session, admin_token: str) -> None:
    assert _authenticate(session, f"  {admin_token}\n").name == "ada"

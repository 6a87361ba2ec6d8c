"""What each token function says and records, exactly: the refusal a caller sees (its text
and the token id it carries for the audit trail), the row it stores, the audit entry it
writes, and the token file it leaves. test_tokens_rules.py checks which rule refuses;
this module checks what the refusal and the records say (the full mutation run of
security.tokens found most of those lines unchecked).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from modelward.config import Workspace
from modelward.errors import InputError, NotFound, PermissionDenied, Unauthenticated
from modelward.security import audit, identities, tokens
from modelward.security.roles import Principal, Role
from modelward.security.tables import api_tokens
from modelward.session import Session

ROOT = Principal("root", Role.ADMIN)


@pytest.fixture
def session(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    monkeypatch.delenv("MODELWARD_TOKEN", raising=False)
    with Session(workspace) as s:
        yield s


def _refusal(session: Session, token: str | None, now: datetime | None = None) -> Unauthenticated:
    with session.store.read() as conn, pytest.raises(Unauthenticated) as refused:
        tokens.authenticate(conn, token, now=now)
    return refused.value


def _entries(session: Session, action: str) -> list[audit.AuditEntry]:
    with session.store.read() as conn:
        return list(audit.entries(conn, action=action))


def _row(session: Session, token_id: str) -> Any:
    with session.store.read() as conn:
        return conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()


def test_each_refusal_says_what_it_is_and_names_the_token_only_once_it_is_known(
    session: Session,
) -> None:
    identities.create_identity(session, ROOT, "ada", "admin")
    info, token = tokens.issue_token(session, ROOT, "ada", "ci", timedelta(hours=1))
    wrong_secret = token[:-1] + ("A" if token[-1] != "A" else "B")  # the last character off

    for missing in (None, ""):
        refused = _refusal(session, missing)
        assert str(refused) == "an API token is required (Authorization: Bearer <token>)"
        assert refused.details == {}
    for bad in ("mwt_only-two", "xyz_" + token[4:], f"mwt_{'0' * 12}_secret", wrong_secret):
        refused = _refusal(session, bad)  # malformed, foreign, unknown id, wrong secret: alike
        assert str(refused) == "the API token is not valid" and refused.details == {}

    expired = _refusal(session, token, now=info.created_at + timedelta(hours=2))
    assert str(expired) == "the API token has expired"
    assert expired.details == {"token_id": info.id}

    identities.disable(session, ROOT, "ada")
    disabled = _refusal(session, token)
    assert str(disabled) == "the identity of this API token is disabled"
    assert disabled.details == {"token_id": info.id}

    tokens.revoke_token(session, ROOT, info.id)
    revoked = _refusal(session, token)
    assert str(revoked) == "the API token was revoked"
    assert revoked.details == {"token_id": info.id}


def test_a_good_token_is_its_identity_with_the_identity_id(session: Session) -> None:
    ada = identities.create_identity(session, ROOT, "ada", "operator")
    _, token = tokens.issue_token(session, ROOT, "ada")
    with session.store.read() as conn:
        principal = tokens.authenticate(conn, token)
    assert principal == Principal("ada", Role.OPERATOR, "user", ada.id)


def test_issuing_stores_only_the_hash_and_audits_who_issued_what(session: Session) -> None:
    identities.create_identity(session, ROOT, "ada", "viewer")
    long_name = "n" * 200
    info, token = tokens.issue_token(session, ROOT, "ada", long_name, timedelta(days=2))

    prefix, token_id, secret = token.split("_", 2)
    assert (prefix, token_id) == ("mwt", info.id) and len(token_id) == 12
    assert (info.identity, info.name, info.revoked_at) == ("ada", "n" * 128, None)
    assert info.expires_at == info.created_at + timedelta(days=2)
    row = _row(session, info.id)
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(tuple(row))
    assert (row.name, row.created_by, row.revoked_at) == ("n" * 128, "root", None)

    (entry,) = _entries(session, "token.issued")
    assert (entry.actor, entry.target) == ("root", "identity:ada")
    assert entry.payload == {
        "token_id": info.id,
        "name": "n" * 128,
        "expires_at": info.expires_at.isoformat(),
    }
    assert secret not in str(entry.to_dict())

    forever, _ = tokens.issue_token(session, ROOT, "ada", "forever")
    assert forever.expires_at is None
    assert _entries(session, "token.issued")[1].payload["expires_at"] is None


def test_issuing_for_nobody_or_without_the_permission_is_refused(session: Session) -> None:
    viewer = identities.create_identity(session, ROOT, "vic", "viewer").principal()
    with pytest.raises(NotFound) as unknown:
        tokens.issue_token(session, ROOT, "ghost")
    assert str(unknown.value) == "identity 'ghost' does not exist"
    with pytest.raises(PermissionDenied):
        tokens.issue_token(session, viewer, "vic")
    assert _entries(session, "token.issued") == []


def test_revoking_keeps_the_first_instant_audits_each_call_and_lets_owners_revoke_their_own(
    session: Session,
) -> None:
    ada = identities.create_identity(session, ROOT, "ada", "viewer").principal()
    identities.create_identity(session, ROOT, "bob", "viewer")
    own, _ = tokens.issue_token(session, ROOT, "ada", "laptop")
    other, _ = tokens.issue_token(session, ROOT, "bob", "laptop")

    with pytest.raises(PermissionDenied):
        tokens.revoke_token(session, ada, other.id)  # not hers, and she is no admin
    assert _row(session, other.id).revoked_at is None

    first = tokens.revoke_token(session, ada, own.id)
    assert (first.id, first.identity, first.name, first.created_at) == (
        own.id,
        "ada",
        "laptop",
        own.created_at,
    )
    assert first.revoked_at is not None and first.expires_at is None
    again = tokens.revoke_token(session, ada, own.id)
    assert again.revoked_at == first.revoked_at  # revoking twice keeps the first instant
    stored = _row(session, own.id).revoked_at
    assert stored.replace(tzinfo=UTC) == first.revoked_at.replace(tzinfo=UTC)

    entries = _entries(session, "token.revoked")
    assert [(e.actor, e.target, e.payload) for e in entries] == [
        ("ada", "identity:ada", {"token_id": own.id}),
        ("ada", "identity:ada", {"token_id": own.id}),
    ]
    with pytest.raises(NotFound) as unknown:
        tokens.revoke_token(session, ROOT, "x" * 40)
    assert str(unknown.value) == f"token {'x' * 20!r} does not exist"
    assert unknown.value.details == {"token_id": "x" * 20}


def test_listing_is_in_issue_order_with_each_tokens_identity(session: Session) -> None:
    identities.create_identity(session, ROOT, "ada", "viewer")
    identities.create_identity(session, ROOT, "bob", "viewer")
    a1, _ = tokens.issue_token(session, ROOT, "ada", "one")
    b1, _ = tokens.issue_token(session, ROOT, "bob", "two")
    a2, _ = tokens.issue_token(session, ROOT, "ada", "three")
    with session.store.transaction() as conn:  # issue order is creation time, not the id
        for info, at in ((a1, 3), (b1, 1), (a2, 2)):
            moved = datetime(2026, 1, at, tzinfo=UTC)
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == info.id).values(created_at=moved)
            )
    listed = tokens.list_tokens(session, ROOT)
    assert [(t.id, t.identity, t.name) for t in listed] == [
        (b1.id, "bob", "two"),
        (a2.id, "ada", "three"),
        (a1.id, "ada", "one"),
    ]
    assert [t.id for t in tokens.list_tokens(session, ROOT, "ada")] == [a2.id, a1.id]
    assert [t.created_at.replace(tzinfo=UTC).day for t in listed] == [1, 2, 3]
    assert listed[0].to_dict() == {
        "id": b1.id,
        "identity": "bob",
        "name": "two",
        "created_at": listed[0].created_at,
        "expires_at": None,
        "revoked_at": None,
    }


def test_only_an_admin_lists_anyones_tokens_and_others_see_their_own(session: Session) -> None:
    identities.create_identity(session, ROOT, "ada", "viewer")
    identities.create_identity(session, ROOT, "bob", "operator")
    ada, _ = tokens.issue_token(session, ROOT, "ada", "one")
    bob, _ = tokens.issue_token(session, ROOT, "bob", "two")
    viewer = Principal("ada", Role.VIEWER)
    assert [t.id for t in tokens.list_tokens(session, viewer)] == [ada.id]
    assert [t.id for t in tokens.list_tokens(session, viewer, "ada")] == [ada.id]
    with pytest.raises(PermissionDenied, match="'identities:admin' permission") as refused:
        tokens.list_tokens(session, viewer, "bob")
    assert refused.value.details == {"permission": "identities:admin", "role": "viewer"}
    operator = Principal("bob", Role.OPERATOR)  # every role but admin lacks it
    assert [t.id for t in tokens.list_tokens(session, operator)] == [bob.id]
    assert {t.id for t in tokens.list_tokens(session, ROOT)} == {ada.id, bob.id}
    assert [t.id for t in tokens.list_tokens(session, ROOT, "bob")] == [bob.id]


def test_init_again_revokes_only_the_old_local_token_and_says_why(session: Session) -> None:
    admin, first = tokens.bootstrap_admin(session)
    assert (admin.name, admin.role, admin.kind, admin.created_by) == (
        "tester",
        Role.ADMIN,
        "user",
        "tester",
    )
    _, ci = tokens.issue_token(session, admin.principal(), "tester", "ci")
    again, second = tokens.bootstrap_admin(session)
    assert again.id == admin.id

    first_id = first.split("_")[1]
    (replaced,) = [e for e in _entries(session, "token.revoked")]
    assert (replaced.actor, replaced.target) == ("tester", "identity:tester")
    assert replaced.payload == {"token_id": first_id, "why": "replaced by init"}
    with session.store.read() as conn:
        assert tokens.authenticate(conn, ci).name == "tester"  # the CI token lives on
        assert tokens.authenticate(conn, second).name == "tester"
    assert [t.name for t in tokens.list_tokens(session, ROOT) if t.revoked_at is None] == [
        "ci",
        "local-cli",
    ]


def test_the_local_token_file_and_the_environment(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = session.workspace.home
    path = tokens.save_local_token(session.workspace, "mwt_a_b")
    assert path == home / "token" and path.read_text() == "mwt_a_b\n"
    assert [p.name for p in home.iterdir() if p.name.startswith(".token")] == []
    assert tokens.load_local_token(session.workspace) == "mwt_a_b"
    monkeypatch.setenv("MODELWARD_TOKEN", "mwt_env_wins")
    assert tokens.load_local_token(session.workspace) == "mwt_env_wins"
    monkeypatch.delenv("MODELWARD_TOKEN")
    path.write_text("  \n")
    assert tokens.load_local_token(session.workspace) is None
    with pytest.raises(Unauthenticated) as none:
        tokens.principal_for_cli(session)
    assert str(none.value) == (
        "no API token: set MODELWARD_TOKEN or run `modelward init` to create the local "
        "admin token in .modelward/token"
    )


def test_the_secret_has_256_bits_and_a_token_is_named_api_unless_told(session: Session) -> None:
    identities.create_identity(session, ROOT, "ada", "viewer")
    info, token = tokens.issue_token(session, ROOT, "ada")
    assert info.name == "api"
    assert len(token.split("_", 2)[2]) == 43  # 32 random bytes, URL-safe base64
    with pytest.raises(InputError) as never:
        tokens.issue_token(session, ROOT, "ada", "x", timedelta(seconds=-1))
    assert str(never.value) == "expires_in: must be positive"
    assert never.value.details == {"field": "expires_in"}
    with pytest.raises(NotFound) as unknown:
        tokens.issue_token(session, ROOT, "g" * 100)
    assert str(unknown.value) == f"identity {'g' * 60!r} does not exist"


def test_revoking_an_expiring_token_keeps_its_expiry(session: Session) -> None:
    identities.create_identity(session, ROOT, "ada", "viewer")
    info, _ = tokens.issue_token(session, ROOT, "ada", "ci", timedelta(hours=3))
    revoked = tokens.revoke_token(session, ROOT, info.id)
    assert revoked.expires_at is not None
    assert revoked.expires_at.replace(tzinfo=UTC) == info.expires_at.replace(tzinfo=UTC)


def test_init_revokes_only_its_own_live_local_token(session: Session) -> None:
    identities.create_identity(session, ROOT, "bob", "admin")
    _, bobs = tokens.issue_token(session, ROOT, "bob", "local-cli")  # another user's init
    tokens.bootstrap_admin(session)
    _, second = tokens.bootstrap_admin(session)
    tokens.bootstrap_admin(session)
    revoked = [e.payload["token_id"] for e in _entries(session, "token.revoked")]
    assert len(revoked) == len(set(revoked)) == 2  # each old token once, never again
    with session.store.read() as conn:
        assert tokens.authenticate(conn, bobs).name == "bob"
    assert second.split("_")[1] in revoked

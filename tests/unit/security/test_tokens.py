"""The local admin that `modelward init` creates, and its token on disk."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import timedelta

import pytest

from modelward.config import Workspace
from modelward.errors import InputError, Unauthenticated
from modelward.security import tokens
from modelward.security.roles import Role
from modelward.session import Session


@pytest.fixture
def session(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    monkeypatch.delenv("MODELWARD_TOKEN", raising=False)
    with Session(workspace) as s:
        yield s


def test_bootstrap_admin_stores_a_0600_token_and_rotates_it(session: Session) -> None:
    identity, token = tokens.bootstrap_admin(session)
    assert (identity.name, identity.role) == ("tester", Role.ADMIN)
    path = session.workspace.home / tokens.LOCAL_TOKEN_FILE
    assert path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tokens.principal_for_cli(session).role is Role.ADMIN

    again, newer = tokens.bootstrap_admin(session)
    assert again.id == identity.id and newer != token
    with session.store.read() as conn, pytest.raises(Unauthenticated, match="revoked"):
        tokens.authenticate(conn, token)
    assert tokens.principal_for_cli(session).name == "tester"


def test_cli_without_a_token_is_told_how_to_get_one(session: Session) -> None:
    with pytest.raises(Unauthenticated, match="MODELWARD_TOKEN"):
        tokens.principal_for_cli(session)


def test_token_expiry_must_be_positive(session: Session) -> None:
    identity, _ = tokens.bootstrap_admin(session)
    with pytest.raises(InputError, match="expires_in"):
        tokens.issue_token(session, identity.principal(), "tester", "x", timedelta(0))

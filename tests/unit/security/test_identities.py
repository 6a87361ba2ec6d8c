"""Identities: names and roles checked with the field and the rule, one name once, and each
change (created, role changed, disabled) in the audit chain with who did it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.errors import Conflict, InputError, NotFound, PermissionDenied
from modelward.security import entries, identities, verify
from modelward.security.roles import Principal, Role
from modelward.session import Session

ROOT = Principal("root", Role.ADMIN)


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


def _actions(session: Session, name: str) -> list[tuple[str, str, dict[str, str]]]:
    with session.store.read() as conn:
        return [(e.actor, e.action, e.payload) for e in entries(conn, target=f"identity:{name}")]


def test_an_identity_is_created_listed_and_audited(session: Session) -> None:
    made = identities.create_identity(session, ROOT, "ci-bot", "developer", kind="service")
    assert (made.name, made.kind, made.role, made.created_by) == (
        "ci-bot",
        "service",
        Role.DEVELOPER,
        "root",
    )
    assert identities.get_identity(session, "ci-bot") == made
    assert [i.name for i in identities.list_identities(session, ROOT)] == ["ci-bot"]
    assert made.principal().role is Role.DEVELOPER
    assert _actions(session, "ci-bot") == [
        ("root", "identity.created", {"kind": "service", "role": "developer"})
    ]


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_an_admin_lists_the_identities(session: Session, role: Role) -> None:
    identities.create_identity(session, ROOT, "ci-bot", "developer", kind="service")
    with pytest.raises(PermissionDenied, match="'identities:admin' permission"):
        identities.list_identities(session, Principal("ada", role))


@pytest.mark.parametrize("name", ["", "-starts-with-dash", "has space", "x" * 129, "semi;colon"])
def test_a_bad_name_is_refused_naming_the_field_and_the_rule(session: Session, name: str) -> None:
    with pytest.raises(InputError, match="is not a valid identity name; use 1-128") as info:
        identities.create_identity(session, ROOT, name, "viewer")
    assert info.value.details["field"] == "name"
    assert identities.list_identities(session, ROOT) == []


def test_the_longest_name_allowed_and_its_characters_are_accepted(session: Session) -> None:
    name = "a" + "Z9_.@-" * 21 + "b"  # 128 characters
    assert identities.create_identity(session, ROOT, name, "viewer").name == name


def test_an_unknown_role_or_kind_names_its_field(session: Session) -> None:
    with pytest.raises(InputError, match="role: 'owner' is not a role; use one of") as info:
        identities.create_identity(session, ROOT, "ada", "owner")
    assert info.value.details["field"] == "role"
    with pytest.raises(InputError, match="kind: 'robot' is not 'user' or 'service'"):
        identities.create_identity(session, ROOT, "ada", "viewer", kind="robot")  # type: ignore[arg-type]


def test_a_name_is_taken_once_and_nothing_else_is_written(session: Session) -> None:
    identities.create_identity(session, ROOT, "ada", "viewer")
    with pytest.raises(Conflict, match="identity 'ada' already exists"):
        identities.create_identity(session, ROOT, "ada", "admin")
    assert identities.get_identity(session, "ada").role is Role.VIEWER
    assert len(_actions(session, "ada")) == 1


def test_only_an_identities_admin_may_create_change_or_disable(session: Session) -> None:
    identities.create_identity(session, ROOT, "ada", "viewer")
    dev = Principal("dev", Role.DEVELOPER)
    with pytest.raises(PermissionDenied):
        identities.create_identity(session, dev, "eve", "admin")
    with pytest.raises(PermissionDenied):
        identities.set_role(session, dev, "ada", "admin")
    with pytest.raises(PermissionDenied):
        identities.disable(session, dev, "ada")
    assert identities.get_identity(session, "ada").role is Role.VIEWER


def test_a_role_change_records_from_and_to(session: Session) -> None:
    identities.create_identity(session, ROOT, "ada", "viewer")
    changed = identities.set_role(session, ROOT, "ada", "operator")
    assert changed.role is Role.OPERATOR
    assert identities.get_identity(session, "ada").role is Role.OPERATOR
    assert _actions(session, "ada")[-1] == (
        "root",
        "identity.role_changed",
        {"from": "viewer", "to": "operator"},
    )


def test_disabling_twice_keeps_the_first_moment_and_the_record_stays(session: Session) -> None:
    identities.create_identity(session, ROOT, "ada", "viewer")
    first = identities.disable(session, ROOT, "ada")
    again = identities.disable(session, ROOT, "ada")
    assert first.disabled_at is not None
    stored = identities.get_identity(session, "ada").disabled_at
    assert again.disabled_at == first.disabled_at
    assert stored is not None and abs((stored - first.disabled_at).total_seconds()) < 1e-3
    with session.store.read() as conn:
        assert verify(conn).ok


def test_an_unknown_identity_is_not_found_for_every_change(session: Session) -> None:
    for call in (
        lambda: identities.get_identity(session, "ghost"),
        lambda: identities.set_role(session, ROOT, "ghost", "viewer"),
        lambda: identities.disable(session, ROOT, "ghost"),
    ):
        with pytest.raises(NotFound, match="identity 'ghost' does not exist"):
            call()

"""``modelward users`` and ``modelward tokens`` as an admin runs them: identities added,
listed, changed and disabled; a token printed once on stdout and only its record kept;
refusals with their exit code and the field named."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from modelward.config import Workspace
from modelward.security import Principal, Role, list_identities
from modelward.session import Session
from tests.unit.registry.support import admin, cli

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    sqlite_workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    monkeypatch.delenv("MODELWARD_TOKEN", raising=False)
    with Session(sqlite_workspace) as session:
        admin(session)  # `modelward init`'s local admin and its token file

    def invoke(*args: str) -> tuple[int, str, str]:
        return cli(capsys, monkeypatch, sqlite_workspace, *args)

    return invoke


def test_an_identity_is_added_listed_changed_and_disabled(run: Run) -> None:
    code, out, _ = run("users", "add", "ci-bot", "--role", "developer", "--service", "--json")
    assert code == 0
    assert {k: json.loads(out)[k] for k in ("name", "kind", "role")} == {
        "name": "ci-bot",
        "kind": "service",
        "role": "developer",
    }
    assert run("users", "role", "ci-bot", "operator")[1].strip() == "ci-bot is now operator"
    assert run("users", "disable", "ci-bot")[1].strip() == "ci-bot disabled"
    code, out, _ = run("users", "list", "--json")
    listed = {i["name"]: i for i in json.loads(out)}
    assert listed["ci-bot"]["role"] == "operator" and listed["ci-bot"]["disabled_at"]


def test_a_token_is_printed_once_on_stdout_and_its_record_listed_and_revoked(run: Run) -> None:
    run("users", "add", "ada", "--role", "viewer")
    code, out, err = run("tokens", "issue", "ada", "--name", "laptop", "--days", "3")
    secret = out.strip()
    assert code == 0 and len(secret) >= 32 and "\n" not in secret
    assert "shown once" in err and secret not in err
    code, out, _ = run("tokens", "list", "ada", "--json")
    (record,) = json.loads(out)
    assert record["name"] == "laptop" and record["expires_at"] and secret not in out
    code, out, _ = run("tokens", "revoke", record["id"])
    assert code == 0 and out.strip() == f"token {record['id']} of ada revoked"
    assert json.loads(run("tokens", "list", "ada", "--json")[1])[0]["revoked_at"]


def test_a_bad_role_is_a_usage_error_naming_the_roles(run: Run) -> None:
    code, out, err = run("users", "add", "eve", "--role", "owner")
    assert code == 2 and out == ""
    assert "role: 'owner' is not a role; use one of" in err
    assert json.loads(run("users", "list", "--json")[1])[0]["name"] != "eve"


def test_a_name_taken_twice_and_an_unknown_identity_are_refused(run: Run) -> None:
    run("users", "add", "ada", "--role", "viewer")
    code, _, err = run("users", "add", "ada", "--role", "admin")
    assert code == 1 and "identity 'ada' already exists" in err
    code, _, err = run("users", "role", "ghost", "viewer")
    assert code != 0 and "identity 'ghost' does not exist" in err


def test_without_a_token_no_change_is_made(run: Run, sqlite_workspace: Workspace) -> None:
    (sqlite_workspace.home / "token").unlink()
    code, _, err = run("users", "add", "eve", "--role", "admin")
    assert code == 1 and "no API token: set MODELWARD_TOKEN or run `modelward init`" in err
    # nor does anyone learn who may do what, or which tokens exist
    for listing in (("users", "list"), ("tokens", "list")):
        code, out, err = run(*listing)
        assert (code, out) == (1, "") and "no API token" in err, listing
    with Session(sqlite_workspace) as session:
        listed = list_identities(session, Principal("root", Role.ADMIN))
    assert "eve" not in {i.name for i in listed}


def test_someone_who_is_not_an_admin_lists_only_their_own_tokens(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("users", "add", "ada", "--role", "viewer")
    run("tokens", "issue", "ada", "--name", "laptop")
    secret = run("tokens", "issue", "ada", "--name", "phone")[1].strip()
    monkeypatch.setenv("MODELWARD_TOKEN", secret)
    code, out, _ = run("tokens", "list", "--json")
    assert code == 0
    assert sorted((t["identity"], t["name"]) for t in json.loads(out)) == [
        ("ada", "laptop"),
        ("ada", "phone"),
    ]
    code, _, err = run("tokens", "list", "tester")
    assert code != 0 and "'identities:admin' permission" in err
    code, _, err = run("users", "list")
    assert code != 0 and "'identities:admin' permission" in err

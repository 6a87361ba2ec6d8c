"""``modelward users ...`` and ``modelward tokens ...``: identities, roles and API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from modelward.cli.output import console, err_console, print_json, print_table

__all__ = ["tokens_app", "users_app"]

users_app = typer.Typer(no_args_is_help=True, help="People and service accounts, and roles.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens (shown once, stored hashed).")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@users_app.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument()],
    role: Annotated[
        str, typer.Option("--role", help="viewer, developer, approver, operator or admin.")
    ],
    service: Annotated[bool, typer.Option("--service", help="A service account.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a user or service account (admins)."""
    from modelward import security
    from modelward.cli.session import session_from_cli
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        who = security.create_identity(
            session, principal_for_cli(session), name, role, "service" if service else "user"
        )
    if as_json:
        print_json(who.to_dict())
    else:
        console.print(f"added {who.kind} {who.name} ({who.role.value})")


@users_app.command("list")
def list_cmd(as_json: JsonOpt = False) -> None:
    """Every user and service account with its role (admins)."""
    from modelward import security
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session:
        found = security.list_identities(session, security.principal_for_cli(session))
    if as_json:
        print_json([i.to_dict() for i in found])
        return
    print_table(
        None,
        ["name", "kind", "role", "created by"],
        [(i.name, i.kind, i.role.value, i.created_by) for i in found],
    )


@users_app.command("role")
def role_cmd(
    name: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="The new role.")],
) -> None:
    """Change an identity's role (admins)."""
    from modelward import security
    from modelward.cli.session import session_from_cli
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        who = security.set_role(session, principal_for_cli(session), name, role)
    console.print(f"{who.name} is now {who.role.value}")


@users_app.command("disable")
def disable_cmd(name: Annotated[str, typer.Argument()]) -> None:
    """Disable an identity; its tokens stop working at once (admins)."""
    from modelward import security
    from modelward.cli.session import session_from_cli
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        who = security.disable_identity(session, principal_for_cli(session), name)
    console.print(f"{who.name} disabled")


@tokens_app.command("issue")
def issue_cmd(
    identity: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "api",
    days: Annotated[int | None, typer.Option("--days", min=1, help="Expires after.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a token; it is printed once and stored only as a hash (admins)."""
    from modelward import security
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session:
        info, secret = security.issue_token(
            session,
            security.principal_for_cli(session),
            identity,
            name,
            timedelta(days=days) if days else None,
        )
    if as_json:
        print_json(info.to_dict() | {"token": secret})
        return
    console.print(secret, soft_wrap=True)
    err_console.print(f"token {info.id} for {identity}: shown once, keep it somewhere safe")


@tokens_app.command("list")
def tokens_list_cmd(
    identity: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False
) -> None:
    """Tokens' ids, names and dates, never a secret: anyone's (admins) or your own."""
    from modelward import security
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session:
        found = security.list_tokens(session, security.principal_for_cli(session), identity)
    if as_json:
        print_json([t.to_dict() for t in found])
        return
    print_table(
        None,
        ["id", "identity", "name", "expires", "revoked"],
        [(t.id, t.identity, t.name, t.expires_at, t.revoked_at) for t in found],
    )


@tokens_app.command("revoke")
def revoke_cmd(token_id: Annotated[str, typer.Argument()]) -> None:
    from modelward import security
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session:
        info = security.revoke_token(session, security.principal_for_cli(session), token_id)
    console.print(f"token {info.id} of {info.identity} revoked")

"""``modelward audit verify`` and ``modelward audit log``."""

from __future__ import annotations

from typing import Annotated

import typer

from modelward.cli.output import console, print_json, print_table, say

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")


@app.command("verify")
def verify_cmd(
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            help="A head hash recorded earlier with `audit head`; it must still be in the chain.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check the hash chain, and that MLflow still agrees with the registry's record (no
    alias moved, version deleted or model renamed outside modelward); exit 1 naming the
    first bad entry or each divergence."""
    from modelward import registry, security
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session:
        with session.store.read() as conn:
            report = security.verify(conn, anchor=anchor)
        diverging = registry.check_divergences(session)
    if as_json:
        print_json(
            report.to_dict()
            | {
                "ok": report.ok and not diverging,
                "registry_divergences": [d.to_dict() for d in diverging],
            }
        )
    elif report.ok:
        keyed = f"; {report.keyed} keyed with the audit key" if report.key_configured else ""
        console.print(f"audit chain intact: {report.checked} entries verified{keyed}")
    elif report.first_bad_seq is None:
        say("[red]audit chain broken[/red]: {}", report.reason, err=True)
    else:
        say(
            "[red]audit chain broken[/red] at entry {}: {} ({} entries before it verified)",
            report.first_bad_seq,
            report.reason,
            report.checked,
            err=True,
        )
    if diverging and not as_json:
        say(
            "[red]registry bypassed[/red]: MLflow differs from modelward's gated record in "
            "{} way(s):",
            len(diverging),
            err=True,
        )
        for d in diverging:
            say("  {} ({})", d.message, d.hint, err=True)
    if not report.ok or diverging:
        raise typer.Exit(1)


@app.command("seal")
def seal_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Append a keyed entry (admins), after putting `audit_key` in the secrets file, so the
    chain's newest entry carries the key from now on and `audit verify` can require it."""
    from modelward import security
    from modelward.cli.session import session_from_cli
    from modelward.errors import ConfigError
    from modelward.security import Permission, principal_for_cli

    with session_from_cli() as session:
        who = principal_for_cli(session)
        who.require(Permission.IDENTITIES_ADMIN)
        if session.store.audit_key is None:
            raise ConfigError(
                "audit seal: no audit_key in the secrets file (or MODELWARD_AUDIT_KEY); "
                "see docs/security.md",
                field="audit_key",
            )
        with session.store.transaction() as conn:
            entry = security.record(
                conn, actor=who.name, action="audit.sealed", target="audit:chain"
            )
    if as_json:
        print_json({"seq": entry.seq, "hash": entry.hash})
    else:
        console.print(f"entry {entry.seq} keyed; head {entry.hash}")


@app.command("head")
def head_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the newest hash and the entry count: keep them outside the database (a CI log,
    a ticket) and pass the hash to `audit verify --anchor` later to prove nothing was cut."""
    from modelward import security
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session, session.store.read() as conn:
        count, newest = security.head(conn)
    if as_json:
        print_json({"entries": count, "head": newest})
    else:
        console.print(f"{count} entries; head {newest}")


@app.command("log")
def log_cmd(
    target: Annotated[str | None, typer.Option("--target", help="e.g. model:churn@3")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. model.promote")] = None,
    actor: Annotated[str | None, typer.Option("--actor")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List audit entries (newest last), filtered by target, action or actor."""
    from modelward import security
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session, session.store.read() as conn:
        found = list(
            security.entries(conn, target=target, action=action, actor=actor, newest=limit)
        )
    if as_json:
        print_json([e.to_dict() for e in found])
        return
    print_table(
        None,
        ["seq", "at", "actor", "action", "target"],
        [(e.seq, f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.target) for e in found],
    )

"""``modelward data``: snapshots and contracts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelward.cli.output import (
    console,
    duration,
    err_console,
    print_json,
    print_table,
    progress,
    say,
    styled,
)
from modelward.cli.session import session_from_cli

if TYPE_CHECKING:
    from modelward.data import ValidationReport

app = typer.Typer(no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command("snapshot")
def snapshot_cmd(
    source: Annotated[str, typer.Argument(help="A .parquet or .csv file, or a DuckDB SQL query.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Snapshot name (versions count up).")],
    contract: Annotated[
        Path | None, typer.Option("--contract", "-c", help="Contract to enforce (YAML).")
    ] = None,
    override: Annotated[
        str | None,
        typer.Option(
            "--override-contract",
            metavar="REASON",
            help="Store data that violates the contract anyway; the reason is recorded.",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Time the contract's freshness is judged at (ISO 8601 with a zone; "
            "default: now), e.g. the export's own date.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Take an immutable, content-addressed snapshot of SOURCE (exit 1 if its contract
    refuses it, with the failing rules shown)."""
    from modelward.data import snapshot
    from modelward.errors import ContractViolation

    when = _parse_as_of(as_of)
    with session_from_cli() as session, progress() as bar:
        task = bar.add_task(f"snapshot {name}", total=None)

        def on_progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            snap = snapshot(
                source,
                name=name,
                contract=contract,
                override_reason=override,
                as_of=when,
                on_progress=on_progress,
                session=session,
            )
        except ContractViolation as exc:
            if not json_out:
                bar.stop()
                print_refusal(exc.details.get("report") or {})
            raise
    if json_out:
        print_json(snap.to_dict())
        return
    verb = "created" if snap.created else "unchanged (identical content already snapshotted)"
    say("[bold]{}[/bold] {}", snap.ref, verb)
    _print_snapshot(snap)


def print_refusal(report: dict[str, Any]) -> None:
    """The failed rules of a refused snapshot: observed value beside the threshold."""
    failed = [r for r in report.get("results", []) if not r.get("passed")]
    print_table(
        f"{report.get('source', '')} against contract {report.get('contract', '')}: "
        f"{len(failed)} rule(s) failed, nothing stored",
        ["rule", "observed", "threshold", "message"],
        [
            (r["rule"], shown(r.get("observed")), shown(r.get("threshold")), r.get("message"))
            for r in failed
        ],
    )
    err_console.print(
        "store it anyway with a recorded reason: --override-contract REASON", soft_wrap=True
    )


@app.command("list")
def list_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this snapshot name.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List snapshots."""
    from modelward.data import list_snapshots

    with session_from_cli() as session:
        snaps = list_snapshots(session, name)
    if json_out:
        print_json([s.to_dict() for s in snaps])
        return
    print_table(
        "snapshots",
        ["ref", "id", "rows", "columns", "contract", "created by", "created at"],
        [
            (
                s.ref,
                s.id,
                f"{s.row_count:,}",
                len(s.schema),
                _contract_state(s.validation_passed, s.override_reason),
                s.created_by,
                s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            )
            for s in snaps
        ],
    )


@app.command("show")
def show_cmd(
    ref: Annotated[str, typer.Argument(help="Snapshot id, NAME@VERSION or NAME (latest).")],
    json_out: JsonOpt = False,
) -> None:
    """Show one snapshot: its record and schema."""
    from modelward.data import get_snapshot

    with session_from_cli() as session:
        snap = get_snapshot(session, ref)
    if json_out:
        print_json(snap.to_dict())
        return
    _print_snapshot(snap)


@app.command("diff")
def diff_cmd(
    old: Annotated[str, typer.Argument(help="The older snapshot (e.g. customers@1).")],
    new: Annotated[str, typer.Argument(help="The newer snapshot (e.g. customers@2).")],
    json_out: JsonOpt = False,
) -> None:
    """Schema difference between two snapshots."""
    from modelward.data import diff_schemas

    with session_from_cli() as session:
        d = diff_schemas(session, old, new)
    if json_out:
        print_json(d.to_dict())
        return
    rows: list[tuple[str, str, str]] = []
    rows += [("added", c["name"], c["type"]) for c in d.added]
    rows += [("removed", c["name"], c["type"]) for c in d.removed]
    rows += [("retyped", c["name"], f"{c['old_type']} -> {c['new_type']}") for c in d.changed]
    if not rows:
        say("{} and {} have the same schema", d.old, d.new)
    else:
        print_table(f"{d.old} -> {d.new}", ["change", "column", "type"], rows)
    console.print(f"rows: {d.row_count[0]:,} -> {d.row_count[1]:,}")


@app.command("validate")
def validate_cmd(
    source: Annotated[
        str, typer.Argument(help="A .parquet/.csv file, a SQL query, or snapshot:REF.")
    ],
    contract: Annotated[Path, typer.Option("--contract", "-c", help="The contract (YAML).")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Time freshness is judged at (ISO 8601, tz-aware)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check SOURCE against a data contract; exit 1 when any rule fails."""
    from modelward.data import load_contract, validate

    when = _parse_as_of(as_of)
    loaded = load_contract(contract)
    if source.startswith("snapshot:"):
        from modelward.data import scan_snapshot

        with session_from_cli() as session:
            report = validate(
                scan_snapshot(session, source[len("snapshot:") :]),
                loaded,
                as_of=when,
                settings=session.workspace.settings.data,
            )
    else:
        report = validate(source, loaded, as_of=when)
    if json_out:
        print_json(report.to_dict())
    else:
        print_report(report)
    if not report.passed:
        raise typer.Exit(1)


@app.command("infer-contract")
def infer_contract_cmd(
    source: Annotated[str, typer.Argument(help="A .parquet/.csv file or a SQL query.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the contract here (default: stdout)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Contract name.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starting contract inferred from the data; review and tighten it."""
    from modelward.data import infer_contract
    from modelward.errors import InputError

    contract = infer_contract(source, name=name)
    text = contract.to_yaml()
    if output is None:
        typer.echo(text, nl=False)
        return
    if output.exists() and not force:
        raise InputError(f"{output}: exists; pass --force to overwrite", file=str(output))
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    say("wrote {} ({} columns); review it before use", output, len(contract.columns), err=True)


def _parse_as_of(value: str | None) -> Any:
    if value is None:
        return None
    from datetime import datetime

    from modelward.errors import InputError

    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--as-of {value!r}: not an ISO 8601 time", field="as_of") from None
    if when.tzinfo is None:
        raise InputError(
            f"--as-of {value!r}: give a time zone (e.g. 2026-01-01T00:00:00+00:00)", field="as_of"
        )
    return when


def _contract_state(passed: bool | None, override: str | None) -> str:
    if passed is None:
        return "-"
    if passed:
        return "passed"
    return "OVERRIDDEN" if override else "failed"


def _print_snapshot(snap: Any) -> None:
    print_table(
        None,
        ["field", "value"],
        [
            ("ref", snap.ref),
            ("id", snap.id),
            ("content hash", snap.content_hash),
            ("rows", f"{snap.row_count:,}"),
            ("size", f"{snap.byte_size:,} bytes"),
            ("source", snap.source),
            ("created", f"{snap.created_at:%Y-%m-%d %H:%M:%S} UTC by {snap.created_by}"),
            (
                "contract",
                f"{(snap.contract or {}).get('name', '-')} "
                f"({_contract_state(snap.validation_passed, snap.override_reason)})",
            ),
            *([("override reason", snap.override_reason)] if snap.override_reason else []),
            ("path", str(snap.path)),
        ],
    )
    print_table("schema", ["column", "type"], [(c["name"], c["type"]) for c in snap.schema])


def print_report(report: ValidationReport) -> None:
    """A rule-by-rule table; failures first, with a few offending rows."""
    from modelward.data import jsonable

    results = sorted(report.results, key=lambda r: r.passed)
    print_table(
        f"{report.source} against contract {report.contract}",
        ["rule", "result", "observed", "threshold", "message"],
        [
            (
                r.rule,
                styled("pass", "green") if r.passed else styled("FAIL", "red"),
                shown(r.observed),
                shown(r.threshold),
                r.message,
            )
            for r in results
        ],
    )
    for r in report.failures:
        if r.examples:
            say("[bold]{}[/bold] offending rows (first {}):", r.rule, len(r.examples))
            for ex in r.examples:
                console.print(
                    "  " + json.dumps(jsonable(ex), default=str), markup=False, soft_wrap=True
                )
    failed = len(report.failures)
    verdict = (
        "[green]all rules passed[/green]" if not failed else f"[red]{failed} rule(s) failed[/red]"
    )
    console.print(
        f"{report.row_count:,} rows, {len(report.results)} rules: {verdict} "
        f"({duration(report.elapsed_s)})"
    )


def shown(value: Any) -> str:
    """A rule's observed value or threshold for a table: durations in the one format."""
    from datetime import timedelta

    if isinstance(value, timedelta):
        return duration(value)
    if isinstance(value, str) and value[:1].isdigit() and value[-1:] in "wdhms":
        from modelward.data import parse_duration

        try:
            return duration(parse_duration(value))
        except ValueError:
            pass
    text = "" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."

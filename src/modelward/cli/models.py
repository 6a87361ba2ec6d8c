"""``modelward models ...``, ``modelward promote`` and ``modelward rollback``.

Reads need no token; stage changes, approvals and policies act as the identity of
``$MODELWARD_TOKEN`` or ``.modelward/token`` and are checked against its role.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from modelward.cli.output import console, err_console, print_json, print_table, say, styled

__all__ = ["app", "register"]

app = typer.Typer(no_args_is_help=True, help="Model versions, lineage, stages and approvals.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command("list")
def list_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Versions known to modelward, including ones registered by plain MLflow code, and
    every way MLflow differs from modelward's record (an alias moved outside modelward...)."""
    from modelward import registry
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session:
        found = registry.list_versions(session, name)
        diverging = [
            d for d in registry.check_divergences(session) if name is None or d.model == name
        ]
    if as_json:
        print_json(
            [
                {k: v for k, v in mv.to_dict().items() if k != "lineage"}
                | {"divergences": [d.message for d in diverging if d.model == mv.model_name]}
                for mv in found
            ]
        )
        return
    print_table(
        None,
        ["version", "stage", "lineage", "missing", "source", "by"],
        [
            (
                mv.ref,
                mv.stage,
                "complete" if mv.lineage_complete else "incomplete",
                ", ".join(mv.lineage_missing) or "-",
                mv.source,
                mv.created_by,
            )
            for mv in found
        ],
    )
    _warn_divergences(diverging)


def _warn_divergences(diverging: list[Any]) -> None:
    if not diverging:
        return
    err_console.print(
        f"[red]MLflow differs from modelward's record in {len(diverging)} way(s)[/red] "
        "(changed outside modelward; modelward serves and gates from its own record):",
        markup=True,
    )
    for d in diverging:
        err_console.print(f"  {d.message}", markup=False)
    err_console.print("  put MLflow back in line: modelward models reconcile", markup=False)


@app.command("reconcile")
def reconcile_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be done; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Put MLflow back in line with modelward's record (admins; audited). Exit 1 when a
    divergence needs a person (a deleted version cannot come back under its number)."""
    from modelward import registry, security
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session:
        report = registry.reconcile(
            session, security.principal_for_cli(session), name, dry_run=dry_run
        )
    if as_json:
        print_json(report.to_dict())
    else:
        verb = "would do" if dry_run else "done"
        for action in report.actions:
            console.print(f"{verb}: {action}", markup=False)
        for d in report.remaining:
            err_console.print(f"[red]needs a person[/red]: {d.message}", markup=True)
            err_console.print(f"  {d.hint}", markup=False)
        if not report.actions and not report.remaining:
            console.print("MLflow is in line with modelward's record")
    if not report.ok:
        raise typer.Exit(1)


@app.command("lineage")
def lineage_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME@production).")],
    against: Annotated[
        str | None, typer.Option("--diff", help="Another NAME@VERSION to compare with.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Everything a version's lineage answers; with --diff, what changed between two."""
    from modelward import registry
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session:
        registry.sync(session)
        if against is not None:
            result = registry.lineage_diff(session, against, ref)
            if as_json:
                print_json(result)
                return
            print_table(
                f"lineage {result['old']} -> {result['new']}",
                ["field", result["old"], result["new"]],
                [(c["path"], _short(c["old"]), _short(c["new"])) for c in result["changes"]],
            )
            return
        report = registry.lineage_report(session, ref)
    if as_json:
        print_json(report)
        return
    print_table(f"lineage of {report['ref']}", ["question", "answer"], registry.report_rows(report))


@app.command("show")
def show_cmd(
    ref: Annotated[
        str, typer.Argument(help="NAME for the model, or NAME@VERSION (NAME@production).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """A model (its Production version, gate and approval policies, versions), or one
    version (stage, lineage, artifact, the transitions it went through)."""
    from modelward import registry
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session:
        if "@" in ref:
            version = registry.get_version(session, ref)
            history = registry.history(session, version.ref)
            if as_json:
                print_json({**version.to_dict(), "transitions": history})
                return
            _show_version(version, history)
            return
        model = registry.get_model(session, ref)
        found = registry.list_versions(session, ref)
    if as_json:
        print_json(
            {
                **model.to_dict(),
                "versions": [
                    {k: v for k, v in mv.to_dict().items() if k != "lineage"} for mv in found
                ],
            }
        )
        return
    prod = f"{model.name}@{model.production_version}" if model.production_version else "none"
    back = model.previous_production_version
    say(
        "[bold]{}[/bold]: Production {}{}; registered by {} at {}",
        model.name,
        prod,
        f" (rollback target: {model.name}@{back})" if back else "",
        model.created_by,
        f"{model.created_at:%Y-%m-%d %H:%M:%S}",
    )
    _print_policy(model)
    print_table(
        "versions",
        ["version", "stage", "lineage", "source", "by", "registered"],
        [
            (
                mv.ref,
                mv.stage,
                "complete" if mv.lineage_complete else styled("incomplete", "yellow"),
                mv.source,
                mv.created_by,
                f"{mv.created_at:%Y-%m-%d %H:%M:%S}",
            )
            for mv in found
        ],
    )


def _show_version(version: object, history: list[dict[str, object]]) -> None:
    from modelward.registry import ModelVersion

    assert isinstance(version, ModelVersion)
    print_table(
        None,
        ["field", "value"],
        [
            ("version", version.ref),
            ("stage", version.stage),
            (
                "lineage",
                "complete"
                if version.lineage_complete
                else f"incomplete: {', '.join(version.lineage_missing)}",
            ),
            ("source", version.source),
            ("model", version.model_uri),
            ("mlflow run", version.run_id or "-"),
            ("registered", f"{version.created_at:%Y-%m-%d %H:%M:%S} UTC by {version.created_by}"),
        ],
    )
    print_table(
        "transitions",
        ["at", "from", "to", "kind", "by", "reason"],
        [
            (
                f"{t['at']:%Y-%m-%d %H:%M:%S}" if hasattr(t["at"], "strftime") else t["at"],
                t["from_stage"],
                t["to_stage"],
                t["kind"],
                t["actor"],
                t["reason"],
            )
            for t in history
        ],
    )
    console.print(f"lineage in full: modelward models lineage {version.ref}", markup=False)


def _print_policy(model: object) -> None:
    from modelward.registry import RegisteredModel

    assert isinstance(model, RegisteredModel)
    rows = []
    for stage in ("Staging", "Production"):
        gates = model.gate_policy.get(stage) or []
        rows.append(
            (
                stage,
                model.approval_policy.get(stage, 0),
                "\n".join(json.dumps(g, sort_keys=True) for g in gates) or "-",
            )
        )
    print_table(f"policy of {model.name}", ["stage", "approvals required", "gates"], rows)


def _short(value: object) -> str:
    text = "unknown" if value is None else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def promote_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    to: Annotated[str, typer.Option("--to", help="Staging, Production or Archived.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded in the audit log.")],
    override: Annotated[
        str | None,
        typer.Option("--override", help="Admins: pass failing gates, with this reason."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Move a version to a stage through its gates and approvals (exit 1 when refused)."""
    from modelward import registry
    from modelward.cli.session import session_from_cli
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        principal = principal_for_cli(session)
        done = registry.transition(
            session, principal, ref, to, reason=reason, override_reason=override
        )
    _show_transition(done.to_dict(), as_json)


def rollback_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded in the audit log.")],
    as_json: JsonOpt = False,
) -> None:
    """Put the previous Production version back into Production."""
    from modelward import registry
    from modelward.cli.session import session_from_cli
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        done = registry.rollback(session, principal_for_cli(session), name, reason=reason)
    _show_transition(done.to_dict(), as_json)


def _show_transition(data: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    say(
        "{}@{}: {} -> {}{}",
        data["model"],
        data["version"],
        data["from_stage"],
        data["to_stage"],
        f" (version {data['demoted']} archived, kept for rollback)" if data["demoted"] else "",
    )
    for g in data["gate_results"]:  # type: ignore[attr-defined]
        mark = "[green]pass[/green]" if g["passed"] else "[red]FAIL[/red]"
        say("  gate {}: " + mark + " {}", g["gate"], g["message"])
    if data["override_reason"]:
        say("  [yellow]override:[/yellow] {}", data["override_reason"])


@app.command("approve")
def approve_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    stage: Annotated[str, typer.Option("--stage", help="Staging or Production.")] = "Production",
    comment: Annotated[str, typer.Option("--comment", help="Recorded with the approval.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Approve a version for a stage (approvers; never the version's author)."""
    from modelward import registry
    from modelward.cli.session import session_from_cli
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        done = registry.approve(
            session, principal_for_cli(session), ref, stage.capitalize(), comment
        )
    if as_json:
        print_json(done.to_dict())
    else:
        say("{} approved {}@{} for {}", done.approver, done.model_name, done.version, done.stage)


@app.command("policy")
def policy_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    stage: Annotated[
        str | None,
        typer.Option("--stage", help="Staging or Production (needed to change a policy)."),
    ] = None,
    approvals_needed: Annotated[
        int | None, typer.Option("--approvals", help="Approvals required.")
    ] = None,
    gates: Annotated[
        str | None,
        typer.Option(
            "--gates",
            help='JSON list, e.g. \'[{"type":"metric_beats_production","metric":"auc",'
            '"delta":0.01}]\'',
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a model's gates and approvals per stage; with --stage and --approvals and/or
    --gates, change them (admins)."""
    from modelward import registry
    from modelward.cli.session import session_from_cli
    from modelward.errors import InputError
    from modelward.security import principal_for_cli

    if approvals_needed is None and gates is None:
        if stage is not None:
            raise InputError(
                "--stage: say what to change with --approvals and/or --gates "
                "(without options the policy is shown)",
                field="stage",
            )
        with session_from_cli() as session:
            model = registry.get_model(session, name)
        if as_json:
            print_json(
                {
                    "model": model.name,
                    "approvals": model.approval_policy,
                    "gates": model.gate_policy,
                }
            )
        else:
            _print_policy(model)
        return
    if stage is None:
        raise InputError("--stage: name the stage whose policy changes", field="stage")
    with session_from_cli() as session:
        principal = principal_for_cli(session)
        if approvals_needed is not None:
            registry.set_approval_policy(session, principal, name, stage, approvals_needed)
        if gates is not None:
            try:
                specs = json.loads(gates)
            except json.JSONDecodeError as exc:
                raise InputError(f"--gates: not valid JSON: {exc}", field="gates") from None
            if not isinstance(specs, list):
                raise InputError("--gates: expected a JSON list of gates", field="gates")
            registry.set_gate_policy(session, principal, name, stage, specs)
        model = registry.get_model(session, name)
    if as_json:
        print_json(
            {"model": model.name, "approvals": model.approval_policy, "gates": model.gate_policy}
        )
        return
    say("policy of {} for {} updated", name, stage.capitalize())
    _print_policy(model)


@app.command("owner")
def owner_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    owner: Annotated[
        str | None, typer.Option("--owner", help="Who answers for the model (person or team).")
    ] = None,
    on_call: Annotated[
        str | None, typer.Option("--on-call", help="Who is paged for it (a rota, an address).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a model's owner and on-call contact; with --owner and/or --on-call, set them."""
    from modelward import registry
    from modelward.cli.session import session_from_cli
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        if owner is None and on_call is None:
            model = registry.get_model(session, name)
        else:
            model = registry.set_owner(
                session, principal_for_cli(session), name, owner=owner, on_call=on_call
            )
    if as_json:
        print_json({"model": model.name, "owner": model.owner, "on_call": model.on_call})
    else:
        say("{}: owner {}, on call {}", model.name, model.owner or "-", model.on_call or "-")


def register(root: typer.Typer) -> None:
    """Mount ``models`` plus the top-level ``promote`` and ``rollback`` on the root app."""
    root.add_typer(app, name="models", help="Model versions, lineage, stages and approvals.")
    root.command("promote")(promote_cmd)
    root.command("rollback")(rollback_cmd)

"""``modelward reproduce NAME@VERSION``: re-run a model's pipeline and compare the results."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelward.cli.output import console, err_console, print_json, print_table
from modelward.cli.session import session_from_cli


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _code_line(code: dict[str, Any]) -> str:
    old = (code.get("recorded_git") or {}).get("commit")
    new = (code.get("current_git") or {}).get("commit")
    if old is None and new is None:
        return "unknown: not a git repository (see the step code hashes)"
    if code.get("same_commit"):
        return f"same commit {str(old)[:12]}"
    return f"recorded {old}, now {new}"


def reproduce_cmd(
    ref: Annotated[str, typer.Argument(help="Model version, e.g. churn@3.")],
    tolerance: Annotated[
        float,
        typer.Option("--tolerance", help="Allowed absolute difference of metrics and predictions."),
    ] = 0.0,
    executor: Annotated[str | None, typer.Option("--executor", "-e")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Re-run the pipeline that produced REF from its recorded inputs; exit 1 if it differs."""
    from modelward.cli.pipelines import _progress_printer
    from modelward.pipelines import reproduce

    bar, on_event = _progress_printer()
    with session_from_cli() as session, bar:
        report = reproduce(session, ref, tolerance=tolerance, executor=executor, on_event=on_event)
    if json_out:
        print_json(report.to_dict())
    else:
        ts = report.training_set
        code = report.code
        print_table(
            f"reproduce {report.ref}: {report.verdict}",
            ["item", "result"],
            [
                ("recorded run", report.recorded_run[:12]),
                ("reproduced run", report.reproduced_run[:12]),
                (
                    "training set",
                    "identical"
                    if ts.get("identical")
                    else f"differs: {ts.get('recorded')} vs {ts.get('reproduced')}",
                ),
                (
                    "metrics and golden set",
                    "identical"
                    if not (report.differences or report.within_tolerance)
                    else f"{len(report.differences)} beyond, {len(report.within_tolerance)} within "
                    f"tolerance {report.tolerance:g}",
                ),
                (
                    "code",
                    _code_line(code),
                ),
                ("changed steps", ", ".join(code.get("changed_steps", [])) or "none"),
                (
                    "environment",
                    "same package lock"
                    if report.environment.get("same")
                    else "package lock differs",
                ),
            ],
        )
        if report.differences:
            print_table(
                "differences",
                ["what", "recorded", "reproduced"],
                [
                    (d.what, _short(d.recorded), _short(d.reproduced))
                    for d in report.differences[:30]
                ],
            )
        if report.failed:
            err_console.print(f"[red]the reproduction failed:[/red] {report.failed}")
        console.print(f"verdict: [bold]{report.verdict}[/bold]")
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce_cmd)

"""``modelward readiness NAME@V``: the seven questions, answered from evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelward.cli.output import console, print_json, print_table, styled
from modelward.cli.session import session_from_cli

if TYPE_CHECKING:
    from modelward.readiness import Readiness

__all__ = ["print_readiness", "readiness_cmd", "register"]

_STYLE = {"yes": "green", "no": "red", "unknown": "yellow"}


def print_readiness(report: Readiness) -> None:
    """The report as a table: question, answer, evidence, where to look."""
    on = f" on endpoint {report.endpoint}" if report.endpoint else " (no endpoint)"
    print_table(
        f"readiness of {report.ref}{on}",
        ["question", "answer", "evidence", "pointer"],
        [
            (a.title, styled(a.answer, _STYLE[a.answer]), a.evidence, a.pointer)
            for a in report.answers
        ],
    )
    yes = sum(a.answer == "yes" for a in report.answers)
    verdict = "[green]ready[/green]" if report.ready else "[yellow]not ready[/yellow]"
    console.print(f"{verdict}: {yes} of {len(report.answers)} answered yes")


def readiness_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@stage.")],
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", "-e", help="Endpoint to judge (default: one serving it)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Reproducible, features consistent, load known, alerts, rollback path, business metric,
    owner: each yes/no/unknown with its evidence (exit 1 unless all are yes)."""
    from modelward.readiness import readiness

    with session_from_cli() as session:
        report = readiness(session, ref, endpoint=endpoint)
    if json_out:
        print_json(report.to_dict())
    else:
        print_readiness(report)
    if not report.ready:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("readiness")(readiness_cmd)

"""``modelward batch score``: an endpoint (or ``NAME@REF``) over a file, a snapshot or a
DuckDB query, in this process, in worker processes or on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from modelward.cli.output import duration, err_console, print_json, say
from modelward.cli.session import session_from_cli

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)


class _RowsPerSecond(ProgressColumn):
    """Rows scored per second (Rich's own speed column shows only while the total is
    unknown)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="progress.data.speed")


def _bar() -> Progress:
    """Rows done, rows/s and time left, on stderr (``--json`` on stdout stays clean)."""
    return Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        _RowsPerSecond(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


@app.command("score")
def score_cmd(
    target: Annotated[
        str, typer.Argument(help="An endpoint name, or a model NAME@VERSION / NAME@stage.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder the run's directory is written under.")
    ],
    input_: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="A .parquet or .csv file, a snapshot NAME@VERSION, or sql:SELECT ... (DuckDB).",
        ),
    ] = None,
    sql: Annotated[
        str | None,
        typer.Option(
            "--sql",
            help="A DuckDB query to score instead of --input (ORDER BY it, so a resumed run "
            "reads the same rows).",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Column naming each row in the output (default: row number)."),
    ] = None,
    event_time: Annotated[
        str,
        typer.Option(
            "--event-time", help="Column of event times for point-in-time features, if present."
        ),
    ] = "event_timestamp",
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=1, help="Rows per part (bounds the memory).")
    ] = 65_536,
    engine: Annotated[
        str,
        typer.Option("--engine", help="local (this machine's processes) or ray (a cluster)."),
    ] = "local",
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            help="Processes (Ray actors) scoring parts; 0: every core, at most one per part.",
        ),
    ] = 0,
    address: Annotated[
        str | None,
        typer.Option("--address", help="The Ray cluster (ray://head:10001, auto); --engine ray."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Score every row; bad rows go to rejects files, a killed run resumes, a rerun is skipped."""
    from modelward.errors import InputError
    from modelward.security import principal_for_cli
    from modelward.serving import batch_score

    if (input_ is None) == (sql is None):
        raise InputError("give either --input or --sql (one of them)", field="input")
    source = input_ if input_ is not None else f"sql:{sql}"

    with session_from_cli() as session, _bar() as bar:
        task = bar.add_task("scoring", total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        result = batch_score(
            target,
            source,
            output,
            session=session,
            actor=principal_for_cli(session),
            key=key,
            event_time=event_time,
            batch_rows=batch_rows,
            on_progress=advance,
            engine=engine,
            workers=workers,
            address=address,
        )
    if json_out:
        print_json(result.to_dict())
        return
    if result.skipped:
        say(
            "[yellow]skipped[/yellow]: {} already scored this input with {}@{} (run {})",
            result.output,
            result.model,
            result.model_version,
            result.run_id,
        )
        return
    resumed = (
        f", {result.resumed_parts} part(s) kept from the killed run" if result.resumed_parts else ""
    )
    say(
        "[green]scored[/green] {} of {} rows with {}@{} in {} ({} rejected){}",
        result.rows_scored,
        result.rows_in,
        result.model,
        result.model_version,
        duration(result.seconds),
        result.rows_rejected,
        resumed,
    )
    say("output: {}", result.output)

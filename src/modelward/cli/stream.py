"""``modelward stream``: an endpoint consuming an event stream (Redis Streams, NATS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modelward.cli.output import duration, err_console, print_json, say
from modelward.cli.session import session_from_cli

if TYPE_CHECKING:
    from modelward.serving import StreamResult

__all__ = ["register", "stream_cmd"]


def _status() -> Progress:
    """Events scored, events/s and dead letters so far, on stderr."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]streaming[/bold] {task.fields[line]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


def stream_cmd(
    endpoint: Annotated[str, typer.Argument(help="The endpoint whose definition scores events.")],
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="Where events come from: redis://HOST:6379/0?stream=events&group=G or "
            "nats://HOST:4222?subject=events&group=G.",
        ),
    ],
    sink: Annotated[
        str,
        typer.Option(
            "--sink",
            help="Where outputs go, keyed by event id: redis://...?stream=scores or "
            "nats://...?subject=scores.",
        ),
    ],
    dead_letter: Annotated[
        str | None,
        typer.Option(
            "--dead-letter",
            help="Where refused events go (default: the source's stream + '-dead' on Redis, "
            "its subject + '.dead' on NATS).",
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Events per micro-batch.")
    ] = 500,
    max_in_flight: Annotated[
        int,
        typer.Option(
            "--max-in-flight", min=1, help="Batches read and not yet acknowledged, at most."
        ),
    ] = 2,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop once a read finds no event.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on this port."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Score events in micro-batches: outputs keyed by event id, acknowledged once written.

    Refused events (not JSON, failing the schema) go to the dead-letter stream with the
    field and the rule. SIGTERM finishes the batches in flight, acknowledges them and exits.
    """
    from modelward.security import principal_for_cli
    from modelward.serving import stream_score

    with session_from_cli() as session, _status() as status:
        task = status.add_task("streaming", total=None, line="waiting for events")

        def show(counts: Any) -> None:
            line = f"{counts.scored:,} scored, {counts.dead_lettered:,} dead-lettered"
            status.update(task, line=line)

        result = stream_score(
            endpoint,
            source,
            sink,
            dead_letter=dead_letter,
            session=session,
            actor=principal_for_cli(session),
            batch_size=batch_size,
            max_in_flight=max_in_flight,
            until_idle=until_idle,
            metrics_port=metrics_port,
            on_batch=show,
        )
    _report(result, json_out)


def _report(result: StreamResult, json_out: bool) -> None:
    if json_out:
        print_json(result.to_dict())
        return
    rate = result.scored / result.seconds if result.seconds else 0.0
    say(
        "[green]stopped[/green]: {} events scored with {}@{} in {} ({}/s), {} "
        "dead-lettered, {} already written (redelivered)",
        result.scored,
        result.model,
        result.model_version,
        duration(result.seconds),
        f"{rate:,.0f}",
        result.dead_lettered,
        result.duplicates,
    )
    say("outputs: {}  dead letters: {}", result.sink, result.dead_letter)


def register(app: typer.Typer) -> None:
    app.command("stream")(stream_cmd)

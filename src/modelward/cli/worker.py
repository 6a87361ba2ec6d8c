"""``modelward worker ENDPOINT``: score an endpoint's asynchronous jobs from the queue."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modelward.cli.output import err_console, print_json, say
from modelward.cli.session import session_from_cli

if TYPE_CHECKING:
    from modelward.serving import JobWorker, WorkerStats

__all__ = ["register", "worker_cmd"]


def worker_cmd(
    endpoint: Annotated[str, typer.Argument(help="The endpoint whose jobs to score.")],
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            help="'sqlite' (the metadata store) or redis://host:6379/0 "
            "(default: serving.jobs.queue).",
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-c", min=1, max=256, help="Batches scored at once."),
    ] = 4,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=10_000, help="Jobs taken per queue read.")
    ] = 64,
    drain: Annotated[
        bool, typer.Option("--drain", help="Exit once the queue is empty (CI, backfills).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Take ENDPOINT's jobs, score them as the gateway would, record results and the log.

    SIGTERM or Ctrl-C stops taking jobs and finishes the ones in hand; a worker killed
    outright has its jobs redelivered to another after the visibility timeout.
    """
    from modelward.security import Permission, principal_for_cli
    from modelward.serving import create_worker

    with session_from_cli() as session:
        principal_for_cli(session).require(Permission.ENDPOINTS_READ)
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,
        ) as bar:
            task = bar.add_task(f"worker {endpoint}", total=None, counts="waiting for jobs")

            def progress(stats: WorkerStats) -> None:
                bar.update(
                    task,
                    counts=f"{stats.succeeded} scored, {stats.retried} retried, "
                    f"{stats.dead} dead-lettered",
                )

            worker = create_worker(
                session,
                endpoint,
                queue=queue,
                concurrency=concurrency,
                batch=batch,
                on_progress=progress,
            )
            stats = asyncio.run(_run(worker, drain))
    if json_out:
        print_json(
            {
                "endpoint": endpoint,
                "succeeded": stats.succeeded,
                "retried": stats.retried,
                "dead": stats.dead,
            }
        )
        return
    say(
        "[green]stopped[/green]: {} job(s) scored, {} retried, {} dead-lettered",
        stats.succeeded,
        stats.retried,
        stats.dead,
    )


async def _run(worker: JobWorker, drain: bool) -> WorkerStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await worker.run(stop, until_idle=drain)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_cmd)

"""``modelward scheduler``: start scheduled pipeline and monitor runs (each tick exactly once)."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelward.cli.output import console
from modelward.cli.session import session_from_cli

if TYPE_CHECKING:
    from modelward.monitoring import MonitorTick
    from modelward.pipelines import TickOutcome


def _show(outcome: TickOutcome) -> None:
    s = outcome.schedule
    what = f"{s.pipeline} '{s.cron}' tick {outcome.tick.isoformat()}"
    if outcome.state == "started" and outcome.run is not None:
        console.print(f"{what}: run {outcome.run.id[:12]} {outcome.run.status}")
    elif outcome.state == "taken":
        console.print(f"{what}: claimed by another scheduler")
    else:
        console.print(f"{what}: [red]error[/red] {outcome.error}")


def _show_monitor(outcome: MonitorTick) -> None:
    s = outcome.schedule
    what = f"monitor {s.endpoint} '{s.cron}' tick {outcome.tick.isoformat()}"
    if outcome.state == "started":
        console.print(f"{what}: run {outcome.run[:12]}, {outcome.alerts} alert change(s)")
    elif outcome.state == "taken":
        console.print(f"{what}: already run")
    else:
        console.print(f"{what}: [red]error[/red] {outcome.error}")


def scheduler_cmd(
    once: Annotated[bool, typer.Option("--once", help="Run due ticks once and exit.")] = False,
    poll: Annotated[
        float | None, typer.Option("--poll", help="Seconds between looks (default: config).")
    ] = None,
    executor: Annotated[str | None, typer.Option("--executor", "-e")] = None,
) -> None:
    """Run scheduled pipelines and monitor runs; several schedulers may run at once without
    doubling up."""
    from modelward.monitoring import run_due_monitors, sender_from_settings
    from modelward.pipelines import run_due
    from modelward.pipelines import serve_schedules as serve

    with session_from_cli() as session:
        if once:
            run_due(session, executor=executor, on_outcome=_show)
            settings = session.workspace.settings.monitoring
            sender = sender_from_settings(settings, session.workspace.secrets.webhook_secret)
            run_due_monitors(session, webhook=sender, on_outcome=_show_monitor)
            if sender is not None:
                # a short-lived process: give delivery a deadline before it exits
                sender.wait(settings.webhook_attempts * (settings.webhook_timeout_s + 2.0))
                sender.close()
            return
        stop = threading.Event()

        def _stop(*_: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        console.print("scheduler running; Ctrl-C to stop")
        try:
            serve(
                session,
                poll_s=poll,
                stop=stop,
                executor=executor,
                on_outcome=_show,
                on_monitor=_show_monitor,
            )
        except KeyboardInterrupt:
            stop.set()
        console.print("scheduler stopped")


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler_cmd)

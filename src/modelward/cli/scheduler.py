"""``modelward scheduler``: scheduled pipeline and monitor runs (each tick exactly once), and
retraining policies' looks."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelward.cli.output import console
from modelward.cli.session import session_from_cli
from modelward.errors import ModelwardError

if TYPE_CHECKING:
    from collections.abc import Callable

    from modelward.monitoring import MonitorTick
    from modelward.pipelines import TickOutcome
    from modelward.retraining import Episode
    from modelward.session import Session


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


def _show_retraining(episode: Episode) -> None:
    linked = " (linked)" if episode.was_linked else ""
    console.print(
        f"retraining {episode.policy} {episode.kind}: {episode.decision} -> "
        f"{episode.state}{linked}: {episode.reason[:120]}"
    )


def _looks(session: Session) -> tuple[list[Callable[[], None]], Callable[[], None]]:
    """The looks made beside the pipeline schedules at each poll, and how to close them."""
    from modelward.monitoring import delivery_deadline_s, run_due_monitors, sender_from_settings
    from modelward.retraining import tick

    settings = session.workspace.settings.monitoring
    sender = sender_from_settings(settings, session.workspace.secrets.webhook_secret)

    def monitors() -> None:
        run_due_monitors(session, webhook=sender, on_outcome=_show_monitor)

    def retraining() -> None:
        if not session.workspace.settings.retraining.policies:
            return
        try:
            for episode in tick(session):
                _show_retraining(episode)
        except ModelwardError as exc:  # a broken policy must not stop the scheduler
            console.print(f"retraining: [red]error[/red] {exc.message}")

    def close() -> None:
        if sender is not None:
            # a short-lived process: give delivery a deadline before it exits
            sender.wait(delivery_deadline_s(settings))
            sender.close()

    return [monitors, retraining], close


def scheduler_cmd(
    once: Annotated[bool, typer.Option("--once", help="Run due ticks once and exit.")] = False,
    poll: Annotated[
        float | None, typer.Option("--poll", help="Seconds between looks (default: config).")
    ] = None,
    executor: Annotated[str | None, typer.Option("--executor", "-e")] = None,
) -> None:
    """Run scheduled pipelines, monitor runs and retraining policies; several schedulers
    may run at once without doubling up."""
    from modelward.pipelines import run_due
    from modelward.pipelines import serve_schedules as serve

    with session_from_cli() as session:
        looks, close = _looks(session)
        try:
            if once:
                run_due(session, executor=executor, on_outcome=_show)
                for look in looks:
                    look()
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
                    also=looks,
                )
            except KeyboardInterrupt:
                stop.set()
            console.print("scheduler stopped")
        finally:
            close()


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler_cmd)

"""The ``modelward`` command: a root app and one noun group per context.

Each group lives in its own module and imports its context only inside commands, so
``modelward --help`` stays fast and a broken optional engine never breaks the CLI.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer
from rich.markup import escape

from modelward.cli.output import err_console, print_json
from modelward.cli.session import state
from modelward.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, ModelwardError

__all__ = ["app", "main", "state"]


app = typer.Typer(
    name="modelward",
    help="modelward: reproducible training, shared features, gated releases, watched models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            "-w",
            envvar="MODELWARD_WORKSPACE",
            help="Workspace folder (default: the nearest with modelward.toml).",
        ),
    ] = None,
) -> None:
    state.debug = debug
    state.workspace = workspace


_registered = False


def _register() -> None:
    """Mount every group once per process. ``main`` calls this on each run; mounting again
    would add a second copy of every group, and a process that runs many commands (a test
    suite, a script calling ``main``) would build an ever larger tree on each call."""
    global _registered
    if _registered:
        return
    _registered = True
    from modelward.cli import (
        api_server,
        audit,
        batch,
        data,
        endpoints,
        features,
        gateway,
        loadtest,
        models,
        monitoring,
        pipelines,
        quickstart,
        readiness,
        reproduce,
        retraining,
        rollout,
        run,
        scheduler,
        stream,
        users,
        worker,
        workspace,
    )

    workspace.register(app)
    quickstart.register(app)
    app.add_typer(data.app, name="data", help="Dataset snapshots and data contracts.")
    app.add_typer(
        features.app,
        name="features",
        help="Feature views: definitions, training sets, materialization, online serving, skew.",
    )
    models.register(app)  # the `models` group, and top-level `promote` and `rollback`
    run.register(app)
    api_server.register(app)
    app.add_typer(audit.app, name="audit", help="The tamper-evident audit log.")
    app.add_typer(users.users_app, name="users", help="People and service accounts, and roles.")
    app.add_typer(users.tokens_app, name="tokens", help="API tokens (shown once, stored hashed).")
    pipelines.register(app)
    scheduler.register(app)
    reproduce.register(app)
    app.add_typer(endpoints.app, name="endpoints", help="Online endpoints served by the gateway.")
    gateway.register(app)
    worker.register(app)  # `modelward worker ENDPOINT`: async jobs
    loadtest.register(app)
    readiness.register(app)
    app.add_typer(batch.app, name="batch", help="Batch scoring of files and snapshots.")
    stream.register(app)
    app.add_typer(
        rollout.app,
        name="rollout",
        help="Releases on an endpoint: canary, blue-green, shadow; the controller.",
    )
    app.add_typer(
        monitoring.monitor_app,
        name="monitor",
        help="Drift, data quality and realised performance over the prediction log.",
    )
    app.add_typer(
        monitoring.labels_app, name="labels", help="Delayed ground truth for predictions."
    )
    app.add_typer(monitoring.kpis_app, name="kpis", help="Business KPI events tied to an endpoint.")
    app.add_typer(
        retraining.app,
        name="retrain",
        help="Retraining policies: triggers judged before work, decisions, the kill switch.",
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, and map modelward errors to exit codes and clean messages."""
    _register()
    args = sys.argv[1:] if argv is None else argv
    state.reset()
    state.json_errors = "--json" in args
    try:
        rc = _run(args)
    finally:
        state.reset()
    raise SystemExit(rc)


_built: tuple[tuple[int, int], object] | None = None


def _command() -> typer.core.TyperGroup:
    """The click command tree, built once: Typer rebuilds it from the function signatures on
    every call (about 0.3 s for ours), which a process that runs commands in a loop (the
    test suite, a script calling ``main``) would pay each time. Rebuilt when a group or
    command was added since."""
    global _built
    shape = (len(app.registered_groups), len(app.registered_commands))
    if _built is None or _built[0] != shape:
        _built = (shape, typer.main.get_command(app))
    command = _built[1]
    assert isinstance(command, typer.core.TyperGroup)
    return command


def _run(args: list[str]) -> int:
    try:
        rc = _command().main(args=args, standalone_mode=False)
    except ModelwardError as exc:
        _report(exc)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        err_console.print("interrupted; nothing half-written was kept")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a usage error from the parser, or a bug
        # Typer ships its own copy of click, so recognise its errors by what they can do
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        if state.debug:
            traceback.print_exc()
        else:
            err_console.print(
                f"[red]internal error:[/red] {escape(f'{type(exc).__name__}: {exc}')}\n"
                "run again with --debug for the traceback, and please report it "
                "(exit code 70: see docs/cli.md)"
            )
        return EXIT_INTERNAL
    return rc if isinstance(rc, int) else 0


def _report(exc: ModelwardError) -> None:
    if state.debug:
        traceback.print_exc()
    if state.json_errors:
        print_json(exc.to_dict())
    else:
        err_console.print("[red]error:[/red]", escape(exc.message), soft_wrap=True)

"""``modelward pipelines``: list, show, run (with live step progress), runs, schedules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelward.cli.output import (
    console,
    duration,
    err_console,
    print_json,
    print_table,
    say,
    styled,
)
from modelward.cli.session import session_from_cli

if TYPE_CHECKING:
    from modelward.pipelines import PipelineRun, StepEvent, StepRecord

app = typer.Typer(no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", metavar="KEY=VALUE", help="A pipeline parameter (repeatable)."),
]


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


_COLOUR = {
    "succeeded": "green",
    "cached": "cyan",
    "failed": "red",
    "skipped": "dim",
    "interrupted": "yellow",
    "running": "yellow",
}


def _status(status: str) -> Any:
    return styled(status, _COLOUR.get(status, ""))


def _cache_label(step: StepRecord) -> str:
    if step.status in ("cached", "pinned"):
        return "hit" if step.status == "cached" else "pinned"
    if step.status not in ("succeeded", "failed"):
        return "-"
    return "miss" if step.cache_key is not None else "off"


def print_summary(run: PipelineRun) -> None:
    """The per-step table: status, duration, CPU, peak memory, cache."""
    print_table(
        f"run {run.id[:12]} of {run.pipeline}: {run.status}",
        ["step", "status", "wall", "cpu", "peak mem", "cache"],
        [
            (
                s.step,
                _status(s.status),
                duration(s.wall_seconds),
                duration(s.cpu_seconds),
                _bytes(s.peak_memory_bytes),
                _cache_label(s),
            )
            for s in run.steps
        ],
    )
    cpu = sum(s.cpu_seconds or 0.0 for s in run.steps)
    console.print(
        f"{len(run.steps)} steps, {run.cache_hits} cache hit(s), "
        f"{duration(run.wall_seconds)} wall, {duration(cpu)} CPU"
    )
    failed = run.failed_step
    if failed is not None:
        say("[red]step {} failed:[/red] {}", repr(failed.step), failed.error, err=True)
        err_console.print(f"details: modelward pipelines run-show {run.id[:12]}")


def _progress_printer() -> Any:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
        disable=not err_console.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def on_event(event: StepEvent) -> None:
        rec = event.record
        label = f"[{rec.position + 1}/{event.total}] {rec.step}"
        if rec.step not in tasks:
            tasks[rec.step] = bar.add_task(label, total=1, state="running")
        if event.kind == "finished":
            colour = _COLOUR.get(rec.status)
            state = f"[{colour}]{rec.status}[/{colour}]" if colour else rec.status
            bar.update(tasks[rec.step], completed=1, state=state)
        if not err_console.is_terminal and event.kind == "finished":
            err_console.print(f"{label}: {rec.status} ({duration(rec.wall_seconds)})")

    return bar, on_event


def run_and_report(
    session: Any,
    pipeline: Any,
    params: dict[str, Any],
    *,
    from_text: bool,
    executor: str | None,
    use_cache: bool,
    json_out: bool,
    trigger: str = "run",
) -> PipelineRun:
    """Run with live progress on stderr, then print the summary (or JSON)."""
    from modelward.pipelines import run_pipeline

    bar, on_event = _progress_printer()
    with bar:
        run = run_pipeline(
            session,
            pipeline,
            params,
            params_from_text=from_text,
            executor=executor,
            use_cache=use_cache,
            trigger=trigger,
            on_event=on_event,
        )
    if json_out:
        print_json(run.to_dict())
    else:
        print_summary(run)
    return run


@app.command("run")
def run_cmd(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    param: ParamOpt = None,
    executor: Annotated[
        str | None, typer.Option("--executor", "-e", help="local, ray or inline (default: config).")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step again.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run pipeline NAME now; exit code 1 if a step fails."""
    from modelward.pipelines import find_pipeline, parse_assignments

    given = parse_assignments(param or [])
    with session_from_cli() as session:
        pipeline = find_pipeline(session, name)
        run = run_and_report(
            session,
            pipeline,
            dict(given),
            from_text=True,
            executor=executor,
            use_cache=not no_cache,
            json_out=json_out,
        )
    if not run.ok:
        raise typer.Exit(1)


@app.command("list")
def list_cmd(json_out: JsonOpt = False) -> None:
    """List the pipelines defined in the workspace's pipelines module."""
    from modelward.pipelines import load_pipelines

    with session_from_cli() as session:
        pipelines = load_pipelines(session)
    if json_out:
        print_json([p.to_dict() for p in pipelines.values()])
        return
    print_table(
        "pipelines",
        ["name", "steps", "parameters", "description"],
        [
            (
                p.name,
                " -> ".join(s.name for s in p.order),
                ", ".join(f"{k}: {v.type_name}" for k, v in p.params.items()) or "-",
                p.description.splitlines()[0] if p.description else "",
            )
            for p in pipelines.values()
        ],
    )


@app.command("show")
def show_cmd(name: Annotated[str, typer.Argument()], json_out: JsonOpt = False) -> None:
    """Show a pipeline's steps (inputs, outputs, caching) and parameters."""
    from modelward.pipelines import find_pipeline

    with session_from_cli() as session:
        p = find_pipeline(session, name)
    data = p.to_dict()
    if json_out:
        print_json(data)
        return
    say("[bold]{}[/bold]  definition {}...", p.name, p.definition_hash[:19])
    print_table(
        "steps",
        ["#", "step", "reads", "parameters", "outputs", "cache", "side effects"],
        [
            (
                i + 1,
                s["name"],
                ", ".join(a for a, src in s["inputs"].items() if src.startswith("output:")) or "-",
                ", ".join(a for a, src in s["inputs"].items() if src.startswith("param:")) or "-",
                ", ".join(s["outputs"]),
                "yes" if s["cache"] else "no",
                "yes" if s["side_effects"] else "",
            )
            for i, s in enumerate(data["steps"])
        ],
    )
    print_table(
        "parameters",
        ["name", "type", "default", "help"],
        [
            (k, v["type"], "(required)" if v["required"] else repr(v["default"]), v["help"])
            for k, v in data["params"].items()
        ],
    )


@app.command("runs")
def runs_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this pipeline.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """List recent runs, newest first."""
    from modelward.pipelines import list_runs

    with session_from_cli() as session:
        runs = list_runs(session, name, limit=limit)
    if json_out:
        print_json([r.to_dict() for r in runs])
        return
    print_table(
        "pipeline runs",
        ["run", "pipeline", "status", "trigger", "started", "wall", "cache hits", "params"],
        [
            (
                r.id[:12],
                r.pipeline,
                _status(r.status),
                r.trigger,
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                duration(r.wall_seconds),
                f"{r.cache_hits}/{len(r.steps)}",
                " ".join(f"{k}={v}" for k, v in r.params.items()),
            )
            for r in runs
        ],
    )


@app.command("compare")
def compare_cmd(
    old: Annotated[str, typer.Argument(help="The earlier run's id (a unique prefix).")],
    new: Annotated[str, typer.Argument(help="The later run's id (a unique prefix).")],
    json_out: JsonOpt = False,
) -> None:
    """What differs between two runs: parameters, code, environment, step inputs and
    outputs, and the chosen candidate's metrics (`pipelines runs` lists the ids)."""
    from modelward.pipelines import compare_runs

    with session_from_cli() as session:
        diff = compare_runs(session, old, new)
    if json_out:
        print_json(diff.to_dict())
        return
    a, b = diff.old.id[:12], diff.new.id[:12]
    if diff.same:
        say(
            "runs {} and {} of {}: same parameters, code, inputs and outputs",
            a,
            b,
            diff.new.pipeline,
        )
    else:
        print_table(
            f"run {a} -> {b}",
            ["what", a, b],
            [(c.what, _value(c.old), _value(c.new)) for c in diff.changes],
        )
    print_table(
        "steps",
        ["step", a, b, "inputs", "outputs", f"wall {a}", f"wall {b}"],
        [
            (
                s.step,
                _status(s.old_status) if s.old_status else "-",
                _status(s.new_status) if s.new_status else "-",
                "same" if s.same_inputs else styled("changed", "yellow"),
                "same" if s.same_outputs else styled("changed", "yellow"),
                duration(s.old_wall_seconds),
                duration(s.new_wall_seconds),
            )
            for s in diff.steps
        ],
    )


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    text = "-" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


@app.command("run-show")
def run_show_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    json_out: JsonOpt = False,
) -> None:
    """Show one run: parameters, code, environment, each step's hashes and cost."""
    from modelward.pipelines import get_run

    with session_from_cli() as session:
        run = get_run(session, run_id)
    if json_out:
        print_json(run.to_dict(with_environment=True))
        return
    git = run.code.get("git") or {}
    print_table(
        None,
        ["field", "value"],
        [
            ("run", run.id),
            ("pipeline", run.pipeline),
            ("status", _status(run.status)),
            ("trigger", run.trigger),
            ("executor", run.executor),
            ("params", " ".join(f"{k}={v}" for k, v in run.params.items()) or "-"),
            ("git", f"{git.get('commit') or 'unknown'}{' (dirty)' if git.get('dirty') else ''}"),
            (
                "environment",
                f"python {run.environment.get('python')}, "
                f"packages {str(run.environment.get('packages_hash'))[:19]}...",
            ),
            ("resumed from", run.resumed_from or "-"),
            ("started", run.started_at.isoformat()),
            ("error", run.error or "-"),
        ],
    )
    print_summary(run)
    print_table(
        "step inputs and outputs",
        ["step", "inputs", "outputs"],
        [
            (
                s.step,
                "\n".join(f"{k}: {v[:19]}..." for k, v in (s.input_hashes or {}).items()) or "-",
                "\n".join(f"{k}: {v.hash[:19]}..." for k, v in (s.outputs or {}).items()) or "-",
            )
            for s in run.steps
        ],
    )
    failed = run.failed_step
    if failed is not None and failed.traceback:
        say("[bold]traceback of step {}[/bold]", repr(failed.step), err=True)
        err_console.print(failed.traceback, markup=False, highlight=False)
    report = ((failed.error_details or {}).get("details") or {}).get("report") if failed else None
    if isinstance(report, dict):
        # a contract violation: the failed rules of each dataset's validation report
        print_table(
            f"contract violations found by step {failed.step!r}" if failed else None,
            ["dataset", "rule", "observed", "threshold"],
            [
                (dataset, r.get("rule"), r.get("observed"), r.get("threshold"))
                for dataset, rep in report.items()
                if isinstance(rep, dict)
                for r in rep.get("results", [])
                if not r.get("passed")
            ],
        )


@app.command("schedule")
def schedule_cmd(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    cron: Annotated[str, typer.Argument(help='Cron expression in UTC, e.g. "0 3 * * *".')],
    param: ParamOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run pipeline NAME on a cron schedule (executed by `modelward scheduler`)."""
    from modelward.pipelines import check_cron, create_schedule, find_pipeline, parse_assignments

    check_cron(cron)  # a bad expression is refused before anything is loaded
    given = parse_assignments(param or [])
    with session_from_cli() as session:
        made = create_schedule(
            session, find_pipeline(session, name), cron, dict(given), params_from_text=True
        )
    if json_out:
        print_json(made.to_dict())
        return
    say("scheduled [bold]{}[/bold] at '{}' (UTC), id {}", made.pipeline, made.cron, made.id)


@app.command("schedules")
def schedules_cmd(json_out: JsonOpt = False) -> None:
    """List schedules."""
    from modelward.pipelines import list_schedules

    with session_from_cli() as session:
        found = list_schedules(session)
    if json_out:
        print_json([s.to_dict() for s in found])
        return
    print_table(
        "schedules",
        ["id", "pipeline", "cron (UTC)", "params", "enabled", "created by"],
        [
            (
                s.id,
                s.pipeline,
                s.cron,
                " ".join(f"{k}={v}" for k, v in s.params.items()),
                "yes" if s.enabled else "no",
                s.created_by,
            )
            for s in found
        ],
    )


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="pipelines", help="Pipelines: run, inspect, schedule.")

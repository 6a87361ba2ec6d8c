"""``modelward monitor`` (runs and reports over the prediction log) and ``modelward labels``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from modelward.cli.output import print_json, print_table, progress, say
from modelward.cli.session import session_from_cli
from modelward.errors import InputError

__all__ = ["kpis_app", "labels_app", "monitor_app"]

monitor_app = typer.Typer(no_args_is_help=True)
labels_app = typer.Typer(no_args_is_help=True)
kpis_app = typer.Typer(no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
EndpointArg = Annotated[str, typer.Argument(help="Endpoint name.")]


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{option}: {value[:40]!r} is not an ISO 8601 time", field=option
        ) from None
    if parsed.tzinfo is None:
        raise InputError(
            f"{option}: give a time zone, e.g. 2026-01-31T12:00:00+00:00", field=option
        )
    return parsed


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


@monitor_app.command("run")
def run_cmd(
    endpoint: EndpointArg,
    window: Annotated[
        str, typer.Option("--window", help="How far back from --end: 1h, 6h, 2d, ...")
    ] = "1h",
    end: Annotated[
        str | None, typer.Option("--end", help="End of the window, ISO 8601 (default: now).")
    ] = None,
    segment: Annotated[
        list[str] | None,
        typer.Option("--segment", help="An input field to break performance down by (repeat)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check a window of ENDPOINT's predictions against each version's reference and store
    the result (audited): drift and data quality per feature, latency, errors, labels."""
    from modelward.data import parse_duration
    from modelward.monitoring import delivery_deadline_s, run_monitor, sender_from_settings

    try:
        length = parse_duration(window)
    except ValueError as exc:
        raise InputError(f"--window: {exc}", field="window") from None
    stop = _time(end, "--end")
    with session_from_cli() as session, progress() as bar:
        task = bar.add_task(f"monitor {endpoint}", total=None)

        def on_progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        settings = session.workspace.settings.monitoring
        sender = sender_from_settings(settings, session.workspace.secrets.webhook_secret)
        # the run never waits on the webhook; this short-lived process gives delivery a
        # deadline before it exits
        sender_deadline = delivery_deadline_s(settings)
        result = run_monitor(
            session,
            endpoint,
            window=length,
            end=stop,
            webhook=sender,
            segments=segment or (),
            progress=on_progress,
        )
    if json_out:
        print_json(result.to_dict())
        return
    say(
        "[bold]{}[/bold]: {} predictions from {} to {} (run {})",
        endpoint,
        result.rows,
        f"{result.window_start:%Y-%m-%d %H:%M}",
        f"{result.window_end:%Y-%m-%d %H:%M}",
        result.id[:12],
    )
    for v in result.versions:
        say(
            "{}@{}: {} rows, reference {}, errors {}, latency p95 {} ms",
            v.model,
            v.version,
            v.rows,
            v.reference,
            f"{v.error_rate:.1%}",
            _fmt(v.latency_ms.get("p95"), 1),
        )
        if v.drift is not None:
            print_table(
                f"{v.model}@{v.version} drift",
                ["feature", "status", "effect", "p (corrected)", "nulls", "quality"],
                [
                    (
                        f["feature"],
                        f["status"],
                        _fmt(f["effect"]),
                        "-" if f["p_value"] is None else f"{f['p_value']:.1e}",
                        f"{f['null_rate_window']:.1%}",
                        ", ".join(f["quality"]) or "-",
                    )
                    for f in [
                        *v.drift["features"],
                        *([v.drift["prediction"]] if v.drift["prediction"] else []),
                    ]
                ],
            )
        perf = v.performance or {}
        if perf.get("labelled"):
            say(
                "labels: {} of {} ({}), AUC {}, ECE {}",
                perf["labelled"],
                v.rows,
                f"{perf['coverage']:.1%}",
                _fmt(perf.get("auc")),
                _fmt(perf.get("ece")),
            )
            for field_name, values in (perf.get("segments") or {}).items():
                print_table(
                    f"{v.model}@{v.version} by {field_name}",
                    [field_name, "labelled", "AUC", "accuracy", "ECE"],
                    [
                        (value, p["labelled"], _fmt(p["auc"]), _fmt(p["accuracy"]), _fmt(p["ece"]))
                        for value, p in sorted(values.items())
                    ],
                )
    if result.findings:
        print_table(
            "findings",
            ["kind", "version", "feature", "importance", "message"],
            [
                (f.kind, f.version, f.feature, f"{f.importance:.2f}", f.message)
                for f in result.findings
            ],
        )
    if result.kpis:
        print_table(
            "KPIs (window against the 7 windows before)",
            ["kpi", "good", "window", "before", "change", "wrong way"],
            [
                (
                    k["name"],
                    k["good"],
                    _fmt(k["window_mean"]),
                    _fmt(k["baseline_mean"]),
                    "-" if k["change"] is None else f"{k['change']:+.1%}",
                    "yes" if k["wrong_way"] else "no",
                )
                for k in result.kpis
            ],
        )
    for note in result.notes:
        say("rule: {}", note)
    for a in result.alerts:
        say("[bold red]alert {}[/bold red] {}: {}", a["state"], a["key"], a["message"])
    if not result.alerts:
        say("no alert fired or resolved")
    if sender is not None:
        sender.wait(sender_deadline)
        sender.close()
        say("webhook: {} delivered, {} failed", sender.delivered, sender.failed, err=True)


@monitor_app.command("report")
def report_cmd(
    endpoint: EndpointArg,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the HTML and JSON (default: .modelward/reports)."),
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="A stored run's id (default: the latest).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a self-contained HTML page and its JSON for ENDPOINT's latest monitor run:
    drift per feature with the distributions overlaid, data quality, labels, alerts."""
    from modelward.monitoring import write_monitor_report

    with session_from_cli() as session:
        html_path, json_path = write_monitor_report(session, endpoint, folder=out, run_id=run_id)
    if json_out:
        print_json({"html": str(html_path), "json": str(json_path)})
    else:
        say("wrote {} and {}", str(html_path), str(json_path))


@monitor_app.command("alerts")
def alerts_cmd(
    endpoint: Annotated[
        str | None, typer.Argument(help="One endpoint's alerts (default: every endpoint's).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Every alert's state (firing or resolved), newest fired first, and who is on it."""
    from modelward.monitoring import list_alerts

    with session_from_cli() as session:
        found = list_alerts(session, endpoint)
    if json_out:
        print_json(found)
        return
    if not found:
        say("no alert has fired")
        return
    print_table(
        "alerts",
        ["endpoint", "alert", "state", "fired", "acknowledged", "message"],
        [
            [
                a["endpoint"],
                a["key"],
                a["state"],
                a["fired_at"].isoformat(timespec="seconds"),
                a["acknowledged_by"] or "-",
                a["message"],
            ]
            for a in found
        ],
    )


@monitor_app.command("ack")
def ack_cmd(
    endpoint: EndpointArg,
    key: Annotated[str, typer.Argument(help="The alert, as `monitor alerts` names it.")],
    note: Annotated[str, typer.Option("--note", help="What is being done about it.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Acknowledge a firing alert: no reminder is sent until it resolves (audited)."""
    from modelward.monitoring import acknowledge_alert
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        found = acknowledge_alert(session, principal_for_cli(session), endpoint, key, note=note)
    if json_out:
        print_json(found)
    else:
        say("alert {} on {} acknowledged by {}", key, endpoint, found["acknowledged_by"])


def _read_rows(path: Path, required: set[str], *stamp_columns: str) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{path}: no such file", file=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            table = pq.read_table(path)
        elif suffix in (".jsonl", ".ndjson", ".json"):
            table = pajson.read_json(path)
        elif suffix == ".csv":
            # ids stay text even when they look like numbers
            options = pacsv.ConvertOptions(column_types={"request_id": pa.string()})
            table = pacsv.read_csv(path, convert_options=options)
        else:
            raise InputError(
                f"{path}: expected .csv, .jsonl or .parquet with columns "
                f"{', '.join(sorted(required))}",
                file=str(path),
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot be read: {exc}", file=str(path)) from None
    missing = required - set(table.column_names)
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(sorted(missing))}", file=str(path))
    for stamp_column in stamp_columns:
        if stamp_column not in table.column_names:
            continue
        stamp = table.column(stamp_column)
        if pa.types.is_timestamp(stamp.type):
            table = table.set_column(
                table.column_names.index(stamp_column),
                stamp_column,
                pa.array(
                    [None if v is None else v.isoformat() for v in stamp.to_pylist()], pa.string()
                ),
            )
    rows: list[dict[str, Any]] = table.to_pylist()
    for row in rows:  # an empty cell of a CSV: no time given
        for stamp_column in stamp_columns:
            if row.get(stamp_column) == "":
                row[stamp_column] = None
    return rows


@labels_app.command("ingest")
def ingest_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, JSON lines or Parquet: request_id, label.")],
    endpoint: Annotated[str, typer.Option("--endpoint", "-e", help="The endpoint they label.")],
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Join by this entity key (an input the endpoint logs) and the row's `at`, "
            "instead of by request_id.",
        ),
    ] = None,
    within: Annotated[
        str, typer.Option("--within", help="With --by: how far back a prediction may be.")
    ] = "30d",
    json_out: JsonOpt = False,
) -> None:
    """Store delayed labels joined to logged predictions by request id (audited), or with
    --by KEY to the latest prediction of each entity within --within before its `at`.
    Sending a label again changes nothing; unknown ids are kept and counted."""
    from modelward.data import parse_duration
    from modelward.monitoring import ingest_labels, ingest_labels_by_entity
    from modelward.security import principal_for_cli

    if by is None:
        rows = _read_rows(file, {"request_id", "label"}, "labelled_at")
    else:
        rows = _read_rows(file, {by, "at", "label"}, "at", "labelled_at")
        try:
            window = parse_duration(within)
        except ValueError as exc:
            raise InputError(f"--within: {exc}", field="within") from None
    with session_from_cli() as session:
        who = principal_for_cli(session)
        if by is None:
            result = ingest_labels(session, who, endpoint, rows)
        else:
            result = ingest_labels_by_entity(session, who, endpoint, rows, key=by, within=window)
    if json_out:
        print_json(result.to_dict())
        return
    say(
        "{} labels for {}: {} stored, {} updated, {} duplicates, {} with no logged prediction",
        result.received,
        endpoint,
        result.stored,
        result.updated,
        result.duplicates,
        result.unknown + result.unmatched,
    )


@kpis_app.command("ingest")
def kpis_ingest_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, JSON lines or Parquet: name, at, value.")],
    endpoint: Annotated[str, typer.Option("--endpoint", "-e", help="The endpoint they measure.")],
    json_out: JsonOpt = False,
) -> None:
    """Store business KPI events (a KPI declared in [monitoring] kpis, a time, a value) for
    an endpoint, audited; sending one again changes nothing."""
    from modelward.monitoring import ingest_kpis
    from modelward.security import principal_for_cli

    rows = _read_rows(file, {"name", "at", "value"}, "at")
    with session_from_cli() as session:
        result = ingest_kpis(session, principal_for_cli(session), endpoint, rows)
    if json_out:
        print_json(result.to_dict())
        return
    say(
        "{} KPI events for {}: {} stored, {} updated, {} duplicates",
        result.received,
        endpoint,
        result.stored,
        result.updated,
        result.duplicates,
    )

"""``modelward features``: plan, apply, show, list, get, materialize, stats, skew-check, serve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from modelward.cli.output import console, print_json, print_table, progress
from modelward.cli.session import session_from_cli
from modelward.errors import InputError

app = typer.Typer(no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DefsOpt = Annotated[
    str | None,
    typer.Option(
        "--definitions", "-d", help="Definitions module (default: [features] definitions)."
    ),
]


def _time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--{name} {text!r} is not an ISO 8601 time", field=name) from None
    if value.tzinfo is None:
        raise InputError(f"--{name} {text!r} has no time zone; add one, e.g. +00:00", field=name)
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return "" if value is None else str(value)


@app.command("plan")
def plan_cmd(definitions: DefsOpt = None, json_out: JsonOpt = False) -> None:
    """Show what `apply` would register, without changing anything."""
    from modelward.features import load_catalog, plan

    with session_from_cli() as session:
        result = plan(session, load_catalog(session, definitions))
    if json_out:
        print_json(result.to_dict())
    else:
        print_table(
            "feature definitions",
            ["view", "action", "version", "changes"],
            [(c.view, c.action, c.definition_hash, "; ".join(c.details)) for c in result.changes],
        )
        for name in result.absent:
            console.print(f"[dim]{name}: registered, no longer defined (kept)[/dim]")
    if result.refused:
        raise typer.Exit(2)


@app.command("apply")
def apply_cmd(definitions: DefsOpt = None, json_out: JsonOpt = False) -> None:
    """Register new and changed definitions (audited); refuses feature type changes."""
    from modelward.features import apply, load_catalog

    with session_from_cli() as session:
        result = apply(session, load_catalog(session, definitions))
    if json_out:
        print_json(result.to_dict())
        return
    for change in result.changes:
        if change.action in ("create", "update"):
            console.print(
                f"[green]{change.action}d[/green] {change.view} version {change.definition_hash}"
            )
    if not result.pending:
        console.print("nothing to apply: the registered definitions are up to date")


@app.command("show")
def show_cmd(
    view: Annotated[str, typer.Argument(help="Feature view name.")], json_out: JsonOpt = False
) -> None:
    """Owner, sources, definition history and the model versions trained on VIEW."""
    from modelward.features import show

    with session_from_cli() as session:
        info = show(view, session)
    if json_out:
        print_json(info)
        return
    console.print(f"[bold]{info['name']}[/bold] ({info['kind']}) owner: {info['owner'] or '-'}")
    if info["description"]:
        console.print(info["description"])
    console.print("sources: " + ", ".join(info["sources"]))
    print_table(
        "features",
        ["name", "type", "description", "pii"],
        [
            (f["name"], f["dtype"], f["description"], "yes" if f["pii"] else "")
            for f in info["features"]
        ],
    )
    print_table(
        "definition history",
        ["version", "hash", "owner", "by", "at"],
        [
            (v["version"], v["definition_hash"], v["owner"], v["created_by"], _fmt(v["created_at"]))
            for v in info["versions"]
        ],
    )
    print_table(
        "models trained on it",
        ["model", "version", "view version", "recorded"],
        [
            (m["model"], m["model_version"], m["view_version"], _fmt(m["recorded_at"]))
            for m in info["models"]
        ],
    )


@app.command("materialize")
def materialize_cmd(
    views: Annotated[list[str] | None, typer.Argument(help="Views (default: all online).")] = None,
    start: Annotated[str | None, typer.Option(help="Backfill from (ISO time, inclusive).")] = None,
    end: Annotated[
        str | None, typer.Option(help="Up to (ISO time, exclusive; default now).")
    ] = None,
    definitions: DefsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the latest values into the online store: incremental, or a backfill with --start."""
    from modelward.features import load_catalog, materialize

    with session_from_cli() as session, progress() as bar:
        task = bar.add_task("materialize", total=None)

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        runs = materialize(
            views or None,
            start=_time(start, "start"),
            end=_time(end, "end"),
            session=session,
            catalog=load_catalog(session, definitions),
            progress=on_progress,
        )
    if json_out:
        print_json([r.to_dict() for r in runs])
        return
    print_table(
        "materialization",
        ["view", "mode", "from", "to", "status", "rows", "seconds"],
        [
            (r.view, r.mode, _fmt(r.start), _fmt(r.end), r.status, r.rows, f"{r.duration_s:.2f}")
            for r in runs
        ],
    )


@app.command("stats")
def stats_cmd(
    view: Annotated[str, typer.Argument(help="Feature view name.")],
    compute: Annotated[
        bool, typer.Option("--compute", help="Compute from the source now.")
    ] = False,
    limit: Annotated[int, typer.Option(help="How many past computations to show.")] = 10,
    definitions: DefsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Health history of VIEW: freshness, null rates, cardinality, min/max/mean."""
    from modelward.features import compute_view_stats, load_catalog, stats_history

    with session_from_cli() as session:
        if compute:
            compute_view_stats(view, session=session, catalog=load_catalog(session, definitions))
        rows = stats_history(view, session=session, limit=limit)
    if json_out:
        print_json(rows)
        return
    if not rows:
        console.print(f"no statistics for {view!r} yet: materialize it or pass --compute")
        return
    print_table(
        f"{view}: history",
        ["at", "run", "rows", "newest event", "age (s)"],
        [
            (
                _fmt(r["computed_at"]),
                r["run_id"] or r["note"] or "",
                r["rows"],
                r["newest_event"],
                _fmt(r["freshness_s"]),
            )
            for r in rows
        ],
    )
    latest = rows[0]
    change = latest.get("change", {})
    print_table(
        f"{view}: latest, change since the previous",
        ["feature", "null rate", "cardinality", "min", "max", "mean", "Δ null rate", "Δ mean"],
        [
            (
                name,
                _fmt(s["null_rate"]),
                s["cardinality"],
                _fmt(s.get("min")),
                _fmt(s.get("max")),
                _fmt(s.get("mean")),
                _fmt(change.get(name, {}).get("null_rate")),
                _fmt(change.get(name, {}).get("mean")),
            )
            for name, s in latest["features"].items()
        ],
    )


@app.command("skew-check")
def skew_check_cmd(
    view: Annotated[str, typer.Argument(help="Feature view name.")],
    sample: Annotated[int, typer.Option("--sample", "-n", help="Entities to compare.")] = 100,
    threshold: Annotated[
        float | None, typer.Option(help="Highest mismatch rate that passes (default: config).")
    ] = None,
    definitions: DefsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Compare online values with the offline join at the same times; exit 1 above threshold.
    The verdict is kept as the view's evidence (the readiness report reads it)."""
    from modelward.features import load_catalog
    from modelward.readiness import checked_skew

    with session_from_cli() as session:
        report, _ = checked_skew(
            session,
            view,
            sample=sample,
            threshold=threshold,
            catalog=load_catalog(session, definitions),
        )
    if json_out:
        print_json(report.to_dict())
    else:
        print_table(
            f"{view}: skew over {report.sampled} entities (threshold {report.threshold:.2%})",
            ["feature", "mismatch rate", "example"],
            [
                (name, f"{rate:.2%}", report.examples.get(name, [""])[0])
                for name, rate in report.mismatch_rate.items()
            ],
        )
        console.print("[green]passed[/green]" if report.passed else "[red]failed[/red]")
    if not report.passed:
        raise typer.Exit(1)


def _key_value(text: str) -> tuple[str, int | float | str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InputError(
            f"--key {text!r}: write it as NAME=VALUE, e.g. customer_id=1001", field="key"
        )
    value = value.strip()
    # a number where it reads as one: ids are often integers, request fields (an on-demand
    # view's inputs) often decimals
    for kind in (int, float):
        try:
            return name.strip(), kind(value)
        except ValueError:
            pass
    return name.strip(), value


@app.command("get")
def get_cmd(
    view: Annotated[str, typer.Argument(help='Feature view, or "view:feature".')],
    key: Annotated[
        list[str],
        typer.Option("--key", "-k", help="An entity key NAME=VALUE; repeat a name for more rows."),
    ],
    definitions: DefsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Online values of VIEW's features for the entities given, with each value's status.

    PII features are redacted unless your token's role may read them (features:read_pii).
    """
    from modelward.features import FeatureLookup, load_catalog, online_store, read_vectors
    from modelward.security import Permission, load_local_token, principal_for_cli

    entities: dict[str, list[int | float | str]] = {}
    for text in key:
        name, value = _key_value(text)
        entities.setdefault(name, []).append(value)
    with session_from_cli() as session:
        # reading needs no token (docs/cli.md); PII needs one whose role may read it
        pii = load_local_token(session.workspace) is not None and principal_for_cli(session).can(
            Permission.FEATURES_READ_PII
        )
        store = online_store(session)
        try:
            lookup = FeatureLookup(store, load_catalog(session, definitions))
            vectors = read_vectors(lookup, entities, [view], may_read_pii=pii)
        finally:
            store.close()
    if json_out:
        print_json(vectors.to_feast())
        return
    names = vectors.feature_names
    n = len(vectors.columns[0].values) if vectors.columns else 0
    rows = []
    for i in range(n):
        cells = []
        for column in vectors.columns:
            status = column.statuses[i]
            value = _fmt(column.values[i])
            cells.append(value if status in ("PRESENT", "NULL_VALUE") else f"[{status}]")
        rows.append(cells)
    print_table(f"{view}: online values", names, rows)
    if vectors.redacted:
        console.print(f"[dim]redacted (PII): {', '.join(vectors.redacted)}[/dim]")


@app.command("list")
def list_cmd(definitions: DefsOpt = None, json_out: JsonOpt = False) -> None:
    """The feature views defined, with their entity keys, features, TTL and online flag."""
    from modelward.features import FeatureView, load_catalog

    with session_from_cli() as session:
        catalog = load_catalog(session, definitions)
    views = sorted(catalog.views.values(), key=lambda v: v.name)
    listed: list[dict[str, Any]] = [
        {
            "view": view.name,
            "kind": "batch" if isinstance(view, FeatureView) else "on_demand",
            "join_keys": list(view.join_keys),
            "features": [{"name": f.name, "dtype": f.dtype, "pii": f.pii} for f in view.features],
            "ttl_s": view.ttl.total_seconds()
            if isinstance(view, FeatureView) and view.ttl
            else None,
            "online": view.online if isinstance(view, FeatureView) else True,
        }
        for view in views
    ]
    if json_out:
        print_json(listed)
        return
    print_table(
        "feature views",
        ["view", "kind", "entity keys", "features", "ttl (s)", "online"],
        [
            (
                v["view"],
                v["kind"],
                ", ".join(v["join_keys"]),
                ", ".join(f"{f['name']} (pii)" if f["pii"] else f["name"] for f in v["features"]),
                _fmt(v["ttl_s"]),
                "yes" if v["online"] else "",
            )
            for v in listed
        ],
    )


@app.command("serve")
def serve_cmd(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: serving.host in modelward.toml).")
    ] = None,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port (Feast's feature server uses 6566).")
    ] = 6566,
    workers: Annotated[int, typer.Option("--workers", "-n", min=1)] = 1,
) -> None:
    """Serve online features over HTTP: POST /get-online-features (Feast's shape).

    Every request needs a token whose role has features:read; the OpenAPI document is at
    /openapi.json.
    """
    import os

    import uvicorn

    from modelward.cli.output import err_console

    with session_from_cli() as session:
        root = session.workspace.root
        bind_host = host or session.workspace.settings.serving.host
        session.store  # noqa: B018 - migrate once here, not in N racing workers
    os.environ["MODELWARD_WORKSPACE"] = str(root)
    err_console.print(
        f"feature server for {root.name} on http://{bind_host}:{port} with {workers} "
        "worker(s); POST /get-online-features"
    )
    uvicorn.run(
        "modelward.serving:feature_server_from_environment",
        factory=True,
        host=bind_host,
        port=port,
        workers=workers,
        lifespan="on",
        server_header=False,
        log_level="info",
    )

"""``modelward init`` and ``modelward quickstart``."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated

import typer

from modelward.cli.output import command_prefix, console, duration, print_table, progress, say

__all__ = ["register"]


def init_cmd(
    path: Annotated[Path, typer.Argument(help="Folder for the workspace.")] = Path("."),
    project: Annotated[str | None, typer.Option("--project", help="Project name.")] = None,
) -> None:
    """Create modelward.toml and .modelward/ (keeps what already exists)."""
    from modelward.config import CONFIG_FILE, HOME_DIR, init_workspace
    from modelward.registry.tracking import ensure_store
    from modelward.security.tokens import LOCAL_TOKEN_FILE, bootstrap_admin
    from modelward.session import open_session

    root = init_workspace(path, project=project)
    with open_session(root, environ=_environ_for(root)) as session:
        store = session.store  # creates and migrates the metadata database
        where = store.display_url
        ensure_store(session.workspace)  # the embedded MLflow store, migrated once
        token_file = session.workspace.home / LOCAL_TOKEN_FILE
        # a second init keeps the admin's token; rotate it with `modelward tokens`
        admin = None if token_file.exists() else bootstrap_admin(session)[0]
    say("workspace ready at [bold]{}[/bold]", root)
    lines = [
        f"  config:    {root / CONFIG_FILE} (commit it; never put secrets in it)",
        f"  metadata:  {where}",
        f"  mlflow:    {root / 'mlflow.db'} (plain mlflow code run here lands in it)",
        f"  secrets:   {root / HOME_DIR / 'secrets.toml'} (mode 0600, git-ignored)",
    ]
    if admin is not None:
        lines.append(
            f"  admin:     {admin.name}; API token saved to {token_file} (mode 0600, "
            "git-ignored, shown nowhere else); the API also accepts it as MODELWARD_TOKEN"
        )
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


def quickstart_cmd(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the example workspace.")
    ] = Path(".quickstart"),
    rows: Annotated[int, typer.Option("--rows", min=1000, help="Customers to generate.")] = 50_000,
    data_only: Annotated[
        bool, typer.Option("--data-only", help="Stop after snapshots and contracts.")
    ] = False,
) -> None:
    """Run the end-to-end example on the embedded default: snapshot and validate data, then
    train, evaluate against the champion, register with lineage, promote and reproduce."""
    from modelward.cli.data import shown
    from modelward.config import init_workspace
    from modelward.data import snapshots
    from modelward.data.contracts import load_contract
    from modelward.errors import ContractViolation
    from modelward.examples import churn
    from modelward.session import open_session

    started = time.perf_counter()
    root = init_workspace(directory, project="churn-quickstart")
    console.rule("[bold]modelward quickstart[/bold]")
    say("1. workspace at [bold]{}[/bold] (embedded: SQLite + local files)", root)

    contract_path = root / "contracts" / "customers.yaml"
    contract_path.parent.mkdir(exist_ok=True)
    contract_path.write_text(churn.CONTRACT_YAML, encoding="utf-8")
    good = churn.write_customers(root / "data" / "customers-2026-01-31.parquet", rows=rows)
    bad = churn.write_customers(
        root / "data" / "customers-broken-export.parquet", rows=rows, broken=True
    )
    console.print(
        f"2. generated {rows:,} customers -> {good.relative_to(root)}, and a broken "
        f"export -> {bad.relative_to(root)}"
    )
    contract = load_contract(contract_path)
    console.print(
        f"3. contract {contract_path.relative_to(root)}: "
        f"{len(contract.columns)} columns, PII: {', '.join(contract.pii_columns) or '-'}"
    )

    with open_session(root, environ=_environ_for(root)) as session, progress() as bar:
        task = bar.add_task("snapshot customers", total=None)
        snap = snapshots.snapshot(
            session,
            good,
            name="customers",
            contract=contract,
            as_of=churn.AS_OF,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
        bar.remove_task(task)
        state = "created" if snap.created else "unchanged: same content, same snapshot"
        console.print(
            f"4. snapshot [bold]{snap.ref}[/bold] {state}; contract passed "
            f"({len((snap.validation or {}).get('results', []))} rules)"
        )
        try:
            snapshots.snapshot(session, bad, name="customers", contract=contract, as_of=churn.AS_OF)
            refused = None
        except ContractViolation as exc:
            refused = exc
        if refused is None:  # pragma: no cover - the example data is built to fail
            raise RuntimeError("the broken export passed its contract; the example is wrong")
        failures = [r for r in refused.details["report"]["results"] if not r["passed"]]
        console.print(
            f"5. broken export [red]refused[/red] (fail closed), nothing stored; "
            f"{len(failures)} rule(s) failed:"
        )
        print_table(
            None,
            ["rule", "observed", "threshold"],
            [(f["rule"], shown(f["observed"]), shown(f["threshold"])) for f in failures],
        )
        history = snapshots.list_snapshots(session, "customers")

    print_table(
        "summary",
        ["snapshot", "id", "rows", "content hash", "contract"],
        [
            (
                s.ref,
                s.id,
                f"{s.row_count:,}",
                s.content_hash[:23] + "...",
                "passed" if s.validation_passed else "-",
            )
            for s in history
        ],
    )
    if not data_only:
        from modelward.pipelines.quickstart import prepare_example, run_quickstart_pipeline

        console.rule("[bold]the churn pipeline: train, evaluate, register, promote, reproduce")
        prepare_example(root)
        with open_session(root, environ=_environ_for(root)) as session:
            run_quickstart_pipeline(session, console)
    mw = f"{command_prefix()} -w {shlex.quote(str(directory))}"
    console.print(f"done in {duration(time.perf_counter() - started)}. Next, try:", soft_wrap=True)
    for hint in ("data list", "models list", "pipelines runs", "audit verify"):
        console.print(f"  {mw} {hint}", markup=False, soft_wrap=True)
    if not command_prefix().startswith("modelward"):
        console.print(
            "  (or `. .venv/bin/activate` once, to type plain `modelward` in this shell)",
            markup=False,
            soft_wrap=True,
        )


def _environ_for(root: Path) -> dict[str, str] | None:
    """The process environment, minus a workspace override pointing elsewhere."""
    import os

    env = dict(os.environ)
    env.pop("MODELWARD_WORKSPACE", None)
    return env


def register(app: typer.Typer) -> None:
    app.command("init")(init_cmd)
    app.command("quickstart")(quickstart_cmd)

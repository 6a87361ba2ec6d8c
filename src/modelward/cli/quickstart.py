"""``modelward quickstart``: the end-to-end example, told step by step on the console.

The story (what is printed, in which order) lives here; every step is a call to a
context's public function, which returns data.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelward.cli.output import command_prefix, console, duration, print_table, progress, say
from modelward.cli.workspace import environ_for
from modelward.errors import Conflict

if TYPE_CHECKING:
    from modelward.pipelines import PipelineRun
    from modelward.session import Session

__all__ = [
    "EXAMPLE_CUSTOMER",
    "print_quickstart_readiness",
    "register",
    "run_quickstart_pipeline",
    "serve_quickstart_endpoint",
]

#: the customer the quickstart asks its endpoint about (the fields of the model's signature)
EXAMPLE_CUSTOMER: dict[str, Any] = {
    "plan": "basic",
    "region": "latam",
    "tenure_months": 3,
    "support_tickets": 4,
    "logins": 2,
    "monthly_spend": 20.0,
}


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
    from modelward import examples as churn
    from modelward.cli.data import shown
    from modelward.config import Workspace, init_workspace
    from modelward.data import list_snapshots, load_contract, snapshot
    from modelward.errors import ContractViolation
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

    with open_session(root, environ=environ_for(root)) as session, progress() as bar:
        task = bar.add_task("snapshot customers", total=None)
        snap = snapshot(
            good,
            name="customers",
            contract=contract,
            as_of=churn.AS_OF,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            session=session,
        )
        bar.remove_task(task)
        state = "created" if snap.created else "unchanged: same content, same snapshot"
        console.print(
            f"4. snapshot [bold]{snap.ref}[/bold] {state}; contract passed "
            f"({len((snap.validation or {}).get('results', []))} rules)"
        )
        try:
            snapshot(bad, name="customers", contract=contract, as_of=churn.AS_OF, session=session)
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
        history = list_snapshots(session, "customers")

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
        from modelward.examples import prepare_example

        console.rule("[bold]the churn pipeline: train, evaluate, register, promote, reproduce")
        prepare_example(root)
        with open_session(root, environ=environ_for(root)) as session:
            run_quickstart_pipeline(session)
        console.rule("[bold]the churn endpoint: served from churn@production")
        serve_quickstart_endpoint(root, directory)
        from modelward.cli.quickstart_month import month_in_production

        month_in_production(root)
        print_quickstart_readiness(root)
    # the next steps, runnable as printed: with the path this program was started by when
    # `modelward` alone is not it (after `make quickstart`, before `. .venv/bin/activate`)
    mw = f"{command_prefix()} -w {shlex.quote(str(directory))}"
    console.print(f"done in {duration(time.perf_counter() - started)}. Next, try:", soft_wrap=True)
    for hint in ("data list", "models list", "pipelines runs", "audit verify"):
        console.print(f"  {mw} {hint}", markup=False, soft_wrap=True)
    if not data_only:
        server = Workspace.open(root, environ=environ_for(root)).settings.server
        token = shlex.quote(str(directory / ".modelward" / "token"))
        console.print(
            f"The dashboard, at http://{server.host}:{server.port}/ui/ (sign in with the "
            f"workspace's token, in {token}), is served by:",
            markup=False,
            soft_wrap=True,
        )
        console.print(f"  {mw} server", markup=False, soft_wrap=True)
    if not command_prefix().startswith("modelward"):
        console.print(
            "  (or `. .venv/bin/activate` once, to type plain `modelward` in this shell)",
            markup=False,
            soft_wrap=True,
        )


def _what_happened(run: PipelineRun, registered: dict[str, Any]) -> str:
    ran = [s.step for s in run.steps if s.status == "succeeded"]
    trained = [s for s in ran if s.startswith("train_")]
    steps = f"{len(ran)} step(s) ran, {len(run.steps) - len(ran)} from the cache"
    steps += f" (trained: {', '.join(trained)})" if trained else "; trained nothing"
    if "register" not in ran:
        return f"{steps}; registered nothing new ({registered['version']}, from the cache)"
    if registered.get("reused"):
        return (
            f"{steps}; registered nothing new: {registered['version']} is this model "
            "on this training set"
        )
    return f"{steps}; registered [bold]{registered['version']}[/bold] ({registered['chosen']})"


def run_quickstart_pipeline(
    session: Session, *, executor: str | None = None, customers: int = 3_000
) -> list[PipelineRun]:
    """Run the churn pipeline as the quickstart shows it, printing the story; the three runs.

    A first model (no champion yet) passes its gates into Production as the champion (its
    lineage is complete: the example project is committed to git); a month later a
    challenger is evaluated against it; the same run again shows that nothing is
    recomputed; finally the champion is reproduced. Run twice in one workspace, it trains
    and registers nothing the second time, and says so.
    """
    from modelward.cli.pipelines import print_summary
    from modelward.errors import NotFound
    from modelward.examples import HISTORY_AS_OF, write_churn_data
    from modelward.pipelines import find_pipeline, load_output, reproduce, run_pipeline
    from modelward.registry import approve, get_version, transition
    from modelward.security import Principal, Role

    root = session.workspace.root
    churn = find_pipeline(session, "churn")
    runs = []

    def one(title: str, params: dict[str, Any]) -> PipelineRun:
        started = time.perf_counter()
        run = run_pipeline(session, churn, params, executor=executor)
        console.rule(f"{title} ({time.perf_counter() - started:.1f} s)")
        print_summary(run)
        run.raise_for_status()
        runs.append(run)
        return run

    try:
        champion = get_version(session, "churn@production")
    except NotFound:
        champion = None
    first = one(
        "pipeline run 1: first model, no champion yet"
        if champion is None
        else f"pipeline run 1: the first month again, champion {champion.ref}",
        {},
    )
    registered = load_output(session, first, "register")
    console.print(_what_happened(first, registered))
    version = get_version(session, registered["version"])
    if version.stage == "Production":
        console.print(f"{version.ref} is the champion already (Production)")
    elif champion is not None:
        console.print(f"the champion stays {champion.ref}")
    else:
        with contextlib.suppress(Conflict):
            approve(
                session,
                Principal("quickstart-reviewer", Role.APPROVER),
                version.ref,
                "Production",
                comment="quickstart: reviewed the evaluation report",
            )
        transition(
            session,
            Principal(session.actor, Role.ADMIN),
            version.ref,
            "Production",
            reason="quickstart: the first model becomes the champion",
            # only without git is the lineage short of its commit; the gate says so
            override_reason=None
            if version.lineage_complete
            else "quickstart demo workspace: git is not installed, so no commit",
        )
        console.print(
            f"{version.ref} promoted to Production: the champion (gates passed: lineage "
            f"{'complete' if version.lineage_complete else 'incomplete, overridden'})"
        )

    write_churn_data(root / "data", months=13, customers=customers)
    as_of = (HISTORY_AS_OF + timedelta(days=30)).isoformat()
    second = one("pipeline run 2: a month later, challenger vs champion", {"as_of": as_of})
    result = load_output(session, second, "register")
    evaluation = load_output(session, second, "evaluation")
    report = load_output(session, second, "report")
    verdict = "accepted" if result["accepted"] else "rejected"
    console.print(_what_happened(second, result))
    console.print(
        f"acceptance policy {verdict} against {evaluation['acceptance']['champion']}; "
        f"report: {report['html']}"
    )
    third = one("pipeline run 3: the same inputs again (cache)", {"as_of": as_of})
    console.print(_what_happened(third, load_output(session, third, "register")))

    started = time.perf_counter()
    check = reproduce(session, registered["version"], executor=executor)
    console.rule(f"reproduce {check.ref} ({time.perf_counter() - started:.1f} s)")
    console.print(
        f"training set {'identical' if check.training_set.get('identical') else 'DIFFERS'}, "
        f"metrics and golden-set predictions: {len(check.differences)} difference(s); "
        f"verdict: [bold]{check.verdict}[/bold]"
    )
    return runs


def serve_quickstart_endpoint(root: Path, shown_as: Path) -> dict[str, Any]:
    """Create (or bring up to date) the example's churn endpoint from its definition file,
    ask it about :data:`EXAMPLE_CUSTOMER` through an in-process gateway — what
    ``modelward serve`` runs — and print how to serve it and a curl line that works.

    The workspace gets the local admin's API token (``.modelward/token``) if it has none;
    the curl line reads it from that file, so no secret is printed. Returns the answer.
    """
    import asyncio
    import json

    import yaml

    from modelward.errors import NotFound
    from modelward.examples import ENDPOINT_FILE
    from modelward.security import LOCAL_TOKEN_FILE, Principal, Role, bootstrap_admin
    from modelward.serving import create_endpoint, get_endpoint, parse_spec, update_endpoint
    from modelward.session import open_session

    # the gateway runs inside this command for one question: leave the collector alone
    environ = (environ_for(root) or {}) | {"MODELWARD_SERVING__GC_FREEZE": "false"}
    with open_session(root, environ=environ) as session:
        token_file = session.workspace.home / LOCAL_TOKEN_FILE
        if not token_file.exists():
            bootstrap_admin(session)
        token = token_file.read_text(encoding="utf-8").strip()
        definition = root / ENDPOINT_FILE
        spec = parse_spec(yaml.safe_load(definition.read_text(encoding="utf-8")))
        admin = Principal(session.actor, Role.ADMIN)
        try:
            existing = get_endpoint(session, spec.name)
        except NotFound:
            endpoint, state = create_endpoint(session, admin, spec), "created"
        else:
            if existing.spec == spec:
                endpoint, state = existing, "unchanged"
            else:
                endpoint, state = update_endpoint(session, admin, spec), "updated"
        settings = session.workspace.settings.serving
        home = session.workspace.home.relative_to(root)
    answer: dict[str, Any] = asyncio.run(_ask(root, environ, spec.name, token))
    console.print(
        f"6. endpoint [bold]{spec.name}[/bold] {state} from {ENDPOINT_FILE} "
        f"(config version {endpoint.config_version}) on {spec.model}; asked in-process: "
        f"churn probability {answer['prediction']:.3f} from {answer['model']}@"
        f"{answer['model_version']}" + (" (degraded)" if answer["degraded"] else "")
    )
    url = f"http://{settings.host}:{settings.port}/v1/endpoints/{spec.name}/predict"
    token_path = shlex.quote(str(shown_as / home / LOCAL_TOKEN_FILE))
    body = shlex.quote(json.dumps({"inputs": EXAMPLE_CUSTOMER}))
    console.print("Serve it, then ask it from a second shell:", soft_wrap=True)
    for line in (
        f"{command_prefix()} -w {shlex.quote(str(shown_as))} serve",
        f'curl -H "Authorization: Bearer $(cat {token_path})" -d {body} {url}',
    ):
        console.print(f"  {line}", markup=False, soft_wrap=True)
    return answer


def print_quickstart_readiness(root: Path) -> None:
    """The readiness report of the champion on the churn endpoint: what is known, what not."""
    from modelward.cli.readiness import print_readiness
    from modelward.readiness import readiness
    from modelward.session import open_session

    console.rule("[bold]readiness of the champion")
    with open_session(root, environ=environ_for(root)) as session:
        print_readiness(readiness(session, "churn@production", endpoint="churn"))


async def _ask(root: Path, environ: dict[str, str], endpoint: str, token: str) -> Any:
    import httpx

    from modelward.cli.quickstart_month import ASK_BUDGET_MS
    from modelward.serving import create_gateway
    from modelward.session import open_session

    session = open_session(root, environ=environ)
    gateway = create_gateway(
        session,
        only=frozenset({endpoint}),
        access_log=False,
        latency_budget_floor_ms=ASK_BUDGET_MS,
    )
    await gateway.startup()
    try:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            answer = await http.post(
                f"/v1/endpoints/{endpoint}/predict",
                json={"inputs": EXAMPLE_CUSTOMER},
                headers={"Authorization": f"Bearer {token}"},
            )
    finally:
        await gateway.shutdown()
    if answer.status_code != 200:  # pragma: no cover - the example is built to answer
        raise RuntimeError(f"the churn endpoint answered {answer.status_code}: {answer.text}")
    return answer.json()


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart_cmd)

"""``modelward loadtest``: a bounded load on an endpoint, recorded as evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelward.cli.output import console, err_console, print_json, print_table, say, styled
from modelward.cli.session import session_from_cli

if TYPE_CHECKING:
    from modelward.readiness import LoadResult

__all__ = ["loadtest_cmd", "register"]


def _row(result: LoadResult, extra: tuple[str, ...] = ()) -> tuple[object, ...]:
    verdict = styled("meets", "green") if result.passed else styled("misses", "red")
    return (
        result.version or "-",
        result.configuration,
        result.concurrency,
        f"{result.p50_ms:.1f}",
        f"{result.p95_ms:.1f}",
        f"{result.p99_ms:.1f}",
        f"{result.throughput_rps:.0f}",
        f"{result.error_rate:.2%}",
        verdict,
        *extra,
    )


_COLUMNS = ["version", "configuration", "clients", "p50 ms", "p95 ms", "p99 ms", "rps", "errors"]


def loadtest_cmd(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    version: Annotated[
        str | None,
        typer.Option("--version", help="The version expected to answer (default: the endpoint's)."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=256, help="Clients at once.")
    ] = 8,
    duration: Annotated[
        float, typer.Option("--duration", "-d", min=0.2, max=300, help="Seconds of load.")
    ] = 10.0,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate", min=0.001, help="Requests/s to pace at (default: as fast as answered)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-n", min=1, max=16, help="Gateway workers (default: serving.workers)."
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="A running gateway to load (default: start one on loopback)."),
    ] = None,
    recommend: Annotated[
        bool,
        typer.Option(
            "--recommend",
            help="Load 1, 2 and 4 workers at --rate; recommend the cheapest within budget.",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Load an endpoint for a bounded time; record p50/p95/p99, throughput and errors as
    evidence of the version that answered (exit 1 when the run misses the budget)."""
    from modelward.errors import InputError

    if recommend:
        if url is not None:
            raise InputError("--url: --recommend starts its own gateways on loopback", field="url")
        if rate is None:
            raise InputError("--rate: --recommend needs the target rate (requests/s)", field="rate")
        _recommend(endpoint, version, concurrency, duration, rate, workers, json_out)
        return
    from modelward.readiness import load_test

    with session_from_cli() as session:
        err_console.print(f"loading {endpoint} for {duration:g} s with {concurrency} client(s)...")
        result, evidence = load_test(
            session,
            endpoint,
            concurrency=concurrency,
            duration_s=duration,
            version=version,
            rate=rate,
            workers=workers,
            url=url,
        )
    if json_out:
        print_json(result.to_dict() | {"evidence": evidence.pointer if evidence else None})
    else:
        print_table(f"load test of {endpoint}", [*_COLUMNS, "budget"], [_row(result)])
        say(
            "{} requests in {}s, budget p99 <= {} ms; recorded as {}; machine load {}",
            result.requests,
            f"{result.duration_s:.1f}",
            f"{result.latency_budget_ms:g}",
            evidence.pointer if evidence else "-",
            " ".join(f"{x:.2f}" for x in result.load_average),
        )
    if not result.passed:
        raise typer.Exit(1)


def _recommend(
    endpoint: str,
    version: str | None,
    concurrency: int,
    duration: float,
    rate: float,
    workers: int | None,
    json_out: bool,
) -> None:
    from modelward.readiness import recommend

    counts = sorted({1, 2, 4} | ({workers} if workers else set()))
    with session_from_cli() as session:
        found = recommend(
            session,
            endpoint,
            rate=rate,
            worker_counts=counts,
            concurrency=concurrency,
            duration_s=duration,
            version=version,
            on_trial=lambda t: err_console.print(f"  {t.result.summary()}"),
        )
    if json_out:
        print_json(found.to_dict())
    else:
        print_table(
            f"{endpoint} at {rate:g} requests/s (budget p99 <= {found.latency_budget_ms:g} ms)",
            [*_COLUMNS, "budget", "cost / 1k"],
            [_row(t.result, (f"{t.cost_per_1000:.5f}",)) for t in found.trials],
        )
        chosen = found.chosen
        if chosen is None:
            console.print("[red]no configuration tried meets the budget at this rate[/red]")
        else:
            say(
                "recommended: {} worker(s), {} per 1,000 predictions at {} per core-hour",
                chosen.workers,
                f"{chosen.cost_per_1000:.5f}",
                f"{found.cost_per_core_hour:g}",
            )
    if found.chosen is None:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("loadtest")(loadtest_cmd)

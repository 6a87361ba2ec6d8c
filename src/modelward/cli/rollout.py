"""``modelward rollout``: start, watch, drive and end releases on an endpoint (docs/rollout.md)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelward.cli.files import read_definition, read_json
from modelward.cli.output import print_json, print_table, say
from modelward.cli.session import session_from_cli

if TYPE_CHECKING:
    from modelward.rollout import Decision, Release, RolloutPolicy

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
EndpointArg = Annotated[str, typer.Argument(help="The endpoint the release is on.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why; recorded in the audit log.")]
ExpectedOpt = Annotated[
    int | None,
    typer.Option(
        "--expected-version",
        help="Refuse (exit 1) if the release changed since this version (see status).",
    ),
]


def _read_policy(path: Path) -> RolloutPolicy:
    from modelward.rollout import parse_policy

    return parse_policy(read_definition(path))


def _show(release: Release, json_out: bool, verb: str | None = None) -> None:
    if json_out:
        print_json(release.to_dict())
        return
    if verb:
        say(
            "[green]{}[/green] release {} on {}: {} ({}% on {}, version {})",
            verb,
            release.id,
            release.endpoint,
            release.state,
            f"{release.weight:g}",
            release.candidate,
            release.version,
        )
        return
    steps = ", ".join(
        f"[{w:g}]" if i == release.step and release.live else f"{w:g}"
        for i, w in enumerate(release.policy.steps)
    )
    rows: list[tuple[str, Any]] = [
        ("release", release.id),
        ("state", release.state),
        ("strategy", release.strategy.value),
        ("baseline", release.baseline),
        ("candidate", release.candidate),
        ("candidate share", f"{release.weight:g}%"),
        ("steps", steps if release.strategy.value == "canary" else "-"),
        ("version", release.version),
        ("step started", f"{release.step_started_at:%Y-%m-%d %H:%M:%S}"),
        ("driven by", release.lease_owner or "-"),
        ("updated", f"{release.updated_by} at {release.updated_at:%Y-%m-%d %H:%M:%S}"),
    ]
    print_table(f"release on {release.endpoint}", ["", ""], rows)
    if release.last_analysis:
        _show_analysis(release.last_analysis, "last analysis")


def _show_analysis(analysis: dict[str, Any], title: str = "analysis") -> None:
    if "metrics" not in analysis:  # a blue-green smoke result
        print_json(analysis)
        return
    print_table(
        f"{title}: {analysis['verdict']} (score {analysis['score']})",
        ["metric", "verdict", "baseline", "candidate", "Holm p", "why"],
        [
            (
                f"{m['metric']}:{m['segment']}" if m.get("segment") else m["metric"],
                m["verdict"],
                _num(m["baseline"]),
                _num(m["candidate"]),
                _num(m["adjusted_p"]),
                m["reason"],
            )
            for m in analysis["metrics"]
        ],
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@app.command("start")
def start_cmd(
    endpoint: EndpointArg,
    candidate: Annotated[
        str, typer.Option("--candidate", help="The version to roll out, NAME@VERSION.")
    ],
    strategy: Annotated[
        str, typer.Option("--strategy", help="canary, blue-green or shadow.")
    ] = "canary",
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Steps, metrics and thresholds, YAML or JSON."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Start rolling a candidate version out on an endpoint (audited)."""
    from modelward.security import principal_for_cli
    from modelward.serving import start_release

    parsed = _read_policy(policy) if policy is not None else None
    with session_from_cli() as session:
        release = start_release(
            session,
            principal_for_cli(session),
            endpoint,
            candidate=candidate,
            strategy=strategy,
            policy=parsed,
        )
    _show(release, json_out, "started")


@app.command("status")
def status_cmd(endpoint: EndpointArg, json_out: JsonOpt = False) -> None:
    """The endpoint's current release: state, share, steps and the last analysis."""
    from modelward.rollout import current_release

    with session_from_cli() as session:
        release = current_release(session, endpoint)
    _show(release, json_out)


@app.command("list")
def list_cmd(
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Only this endpoint.")] = None,
    live: Annotated[bool, typer.Option("--live", help="Only running or paused.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Releases, newest first."""
    from modelward.rollout import list_releases

    with session_from_cli() as session:
        found = list_releases(session, endpoint, live_only=live)
    if json_out:
        print_json([r.to_dict() for r in found])
        return
    print_table(
        "releases",
        ["id", "endpoint", "strategy", "candidate", "state", "share", "created"],
        [
            (
                r.id,
                r.endpoint,
                r.strategy.value,
                r.candidate,
                r.state,
                f"{r.weight:g}%",
                f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            )
            for r in found
        ],
    )


def _change(verb: str, endpoint: str, expected: int | None, reason: str | None) -> Release:
    from modelward import rollout
    from modelward.security import principal_for_cli

    change = getattr(rollout, verb)
    with session_from_cli() as session:
        release: Release = change(
            session,
            principal_for_cli(session),
            endpoint,
            expected_version=expected,
            reason=reason,
        )
    return release


@app.command("advance")
def advance_cmd(
    endpoint: EndpointArg,
    expected_version: ExpectedOpt = None,
    reason: ReasonOpt = None,
    gateway: Annotated[
        str | None,
        typer.Option(
            "--gateway",
            help="Blue-green: the gateway green is smoke-tested through "
            "(default: http://[serving] host:port).",
        ),
    ] = None,
    golden: Annotated[
        Path | None,
        typer.Option(
            "--golden",
            help="Blue-green: rows and expected predictions, JSON "
            "(default: the candidate's stored golden set).",
        ),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option("--tolerance", min=0.0, help="Blue-green: prediction difference allowed."),
    ] = None,
    no_smoke: Annotated[
        bool, typer.Option("--no-smoke", help="Blue-green: switch without a smoke test (audited).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Move to the next step now (canary: the next weight; blue-green: smoke-test green
    through the gateway with the golden rows, then switch to it)."""
    from modelward import rollout
    from modelward.security import load_local_token, principal_for_cli
    from modelward.serving import advance_release, switch

    with session_from_cli() as session:
        who = principal_for_cli(session)
        release = rollout.current_release(session, endpoint)
        blue_green = release.strategy is rollout.Strategy.BLUE_GREEN and release.step == 0
        if not blue_green or no_smoke:
            release = advance_release(
                session,
                who,
                endpoint,
                skip_smoke=no_smoke,
                expected_version=expected_version,
                reason=reason,
            )
        else:
            import httpx

            settings = session.workspace.settings.serving
            url = gateway or f"http://{settings.host}:{settings.port}"
            rows = rollout.parse_golden(read_json(golden), str(golden)) if golden else None
            with httpx.Client(base_url=url, timeout=60.0) as client:
                release = switch(
                    session,
                    who,
                    endpoint,
                    gateway=client,
                    token=load_local_token(session.workspace) or "",
                    golden=rows,
                    tolerance=tolerance,
                    expected_version=expected_version,
                    reason=reason,
                )
    _show(release, json_out, "advanced")


@app.command("pause")
def pause_cmd(
    endpoint: EndpointArg,
    expected_version: ExpectedOpt = None,
    reason: ReasonOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Hold the current weights; the controller leaves the release alone until resumed."""
    _show(_change("pause", endpoint, expected_version, reason), json_out, "paused")


@app.command("resume")
def resume_cmd(
    endpoint: EndpointArg,
    expected_version: ExpectedOpt = None,
    reason: ReasonOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Let the controller drive a paused release again."""
    _show(_change("resume", endpoint, expected_version, reason), json_out, "resumed")


@app.command("promote")
def promote_cmd(
    endpoint: EndpointArg,
    expected_version: ExpectedOpt = None,
    reason: ReasonOpt = None,
    ci: Annotated[
        bool,
        typer.Option(
            "--ci",
            help="Promote only if the release's analysis passes now (exit 0); otherwise "
            "change nothing and exit 1. Prints the analysis either way.",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Send every request to the candidate and finish the release."""
    if not ci:
        _show(_change("promote", endpoint, expected_version, reason), json_out, "promoted")
        return
    from modelward.monitoring import open_workspace_log
    from modelward.rollout import promote_on_evidence
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        sink = open_workspace_log(session)
        try:
            verdict = promote_on_evidence(
                session, principal_for_cli(session), endpoint, sink, reason=reason
            )
        finally:
            sink.close()
    if json_out:
        print_json(verdict.to_dict())
    else:
        _show_analysis(verdict.analysis.to_dict())
        if verdict.promoted is not None:
            _show(verdict.promoted, False, "promoted")
        else:
            say(
                "[red]not promoted[/red]: release {} on {} is {}, its analysis {}",
                verdict.release.id,
                endpoint,
                verdict.release.state,
                verdict.analysis.verdict,
            )
    if verdict.promoted is None:
        raise typer.Exit(1)


@app.command("abort")
def abort_cmd(
    endpoint: EndpointArg,
    expected_version: ExpectedOpt = None,
    reason: ReasonOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Stop the release; the baseline answers everything again."""
    _show(_change("abort", endpoint, expected_version, reason), json_out, "aborted")


@app.command("rollback")
def rollback_cmd(
    endpoint: EndpointArg,
    expected_version: ExpectedOpt = None,
    reason: ReasonOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Put the baseline back on all traffic (a live release, or the last promoted one)."""
    _show(_change("rollback", endpoint, expected_version, reason), json_out, "rolled back")


@app.command("controller")
def controller_cmd(
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between analyses.")
    ] = 30.0,
    lease: Annotated[
        float | None,
        typer.Option("--lease", min=1.0, help="Seconds a lease lasts (default 3 intervals)."),
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="This controller's name (default: host:pid).")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Drive live releases: analyse each interval, then advance, hold or roll back."""
    import os
    import threading

    from modelward.monitoring import open_prediction_sink
    from modelward.rollout import Controller

    name = owner or f"{socket.gethostname()}:{os.getpid()}"
    with session_from_cli() as session:
        settings = session.workspace.settings.serving
        sink = open_prediction_sink(settings.prediction_log, session.workspace.root)
        controller = Controller(session, sink, owner=name, lease_s=lease or 3 * interval)
        try:
            if once:
                _report(controller.tick(), json_out)
                controller.release_leases()
                return
            say("controller {} drives live releases every {}s (Ctrl-C stops)", name, interval)
            stop = threading.Event()
            try:
                controller.run(stop, interval, on_tick=lambda d: _report(d, json_out, quiet=True))
            except KeyboardInterrupt:
                stop.set()
        finally:
            sink.close()


def _report(decisions: list[Decision], json_out: bool, *, quiet: bool = False) -> None:
    if json_out:
        print_json([d.to_dict() for d in decisions])
        return
    shown = [d for d in decisions if not quiet or d.action not in ("wait", "skip")]
    if not shown and not quiet:
        say("no live release")
    for d in shown:
        say("{} on {}: {} ({})", d.release, d.endpoint, d.action, d.reason)


@app.command("shadow-report")
def shadow_report_cmd(
    endpoint: EndpointArg,
    release: Annotated[
        str | None,
        typer.Option("--release", help="A shadow release by id (default: the current one)."),
    ] = None,
    segment: Annotated[
        list[str] | None,
        typer.Option(
            "--segment",
            help="An input field to break disagreement down by (repeat; default: the "
            "text and boolean inputs with few values).",
        ),
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Scores at or above it decide yes.")
    ] = 0.5,
    top: Annotated[
        int, typer.Option("--top", min=1, max=1000, help="Features and examples shown.")
    ] = 10,
    html_out: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write the report as a self-contained HTML page (no script) to this file.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Where a shadow candidate decides differently: by cohort, by feature, with examples."""
    from modelward.monitoring import open_workspace_log
    from modelward.rollout import shadow_report, write_shadow_html

    with session_from_cli() as session:
        sink = open_workspace_log(session)
        try:
            report = shadow_report(
                session,
                sink,
                endpoint,
                release_id=release,
                segments=segment or (),
                threshold=threshold,
                top=top,
            )
        finally:
            sink.close()
    data = report.to_dict()
    if html_out is not None:
        write_shadow_html(data, html_out)
    if json_out:
        print_json(data)
        return
    _show_shadow(data)
    if html_out is not None:
        say("wrote {}", str(html_out))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _show_shadow(data: dict[str, Any]) -> None:
    lat = data["latency_ms"]
    print_table(
        f"shadow {data['candidate']} vs {data['baseline']} on {data['endpoint']}",
        ["", ""],
        [
            ("release", data["release"]),
            ("paired requests", data["pairs"]),
            ("disagreement", f"{_rate(data['disagreement_rate'])} ({data['disagreements']})"),
            ("mean |score difference|", _num(data["mean_abs_diff"])),
            ("candidate failures", data["shadow_failed"]),
            ("copies without a primary row", data["unpaired"]),
            ("latency p95 primary / shadow (ms)", _pair(lat, "p95")),
            ("latency p99 primary / shadow (ms)", _pair(lat, "p99")),
        ],
    )
    worst = data["worst_cohort"]
    if worst is not None:
        where = (
            f"{worst['field']} = {worst['value']}"
            if "value" in worst
            else f"{worst['lo']:.4g} <= {worst['field']} <= {worst['hi']:.4g}"
        )
        say("disagreement concentrates where {}: {}", where, _rate(worst["rate"]))
    cohorts = [
        (name, str(c["value"]), c["pairs"], _rate(c["rate"]))
        for name, found in data["segments"].items()
        for c in found
    ] + [
        (name, f"{c['lo']:.4g} .. {c['hi']:.4g}", c["pairs"], _rate(c["rate"]))
        for name, found in data["ranges"].items()
        for c in found
    ]
    if cohorts:
        print_table("by cohort", ["input", "cohort", "pairs", "disagreement"], cohorts)
    if data["top_features"]:
        print_table(
            "inputs that differ most between disagreeing and agreeing requests",
            ["input", "measure", "distance", "p"],
            [
                (f["feature"], f["measure"], f"{f['distance']:.3f}", _num(f["p_value"]))
                for f in data["top_features"]
            ],
        )
    if data["examples"]:
        print_table(
            "top disagreeing requests",
            ["request", "primary", "shadow", "inputs"],
            [
                (e["request_id"], str(e["primary"]), str(e["shadow"]), json.dumps(e["inputs"]))
                for e in data["examples"]
            ],
        )


def _pair(latency: dict[str, dict[str, float | None]], q: str) -> str:
    return " / ".join(_num(latency.get(role, {}).get(q)) for role in ("primary", "shadow"))

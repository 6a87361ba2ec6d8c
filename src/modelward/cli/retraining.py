"""``modelward retrain``: policies, their decisions, a trigger by hand, the kill switch
(docs/retraining.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelward.cli.output import print_json, print_table, say
from modelward.cli.session import session_from_cli

if TYPE_CHECKING:
    from modelward.retraining import Episode

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
PolicyArg = Annotated[str, typer.Argument(help="The retraining policy's name.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why; recorded with the decision.")]


def _episodes(episodes: list[Episode], json_out: bool, title: str) -> None:
    if json_out:
        print_json([e.to_dict() for e in episodes])
        return
    print_table(
        title,
        ["episode", "when", "policy", "trigger", "decision", "state", "linked", "reason"],
        [
            (
                e.id[:12],
                f"{e.created_at:%Y-%m-%d %H:%M}",
                e.policy,
                e.kind,
                e.decision,
                e.state,
                e.linked,
                e.reason[:90],
            )
            for e in episodes
        ],
    )


@app.command("policies")
def policies_cmd(json_out: JsonOpt = False) -> None:
    """The workspace's retraining policies (``[[retraining.policies]]``) and their switches."""
    from modelward.retraining import policies_of, switch_states

    with session_from_cli() as session:
        policies = policies_of(session)
        switches = switch_states(session)
    every = switches.get("*")
    if json_out:
        print_json(
            {
                "policies": [p.model_dump() for p in policies],
                "switches": {
                    k: {**v, "changed_at": str(v["changed_at"])} for k, v in switches.items()
                },
            }
        )
        return
    if every is not None and not every["enabled"]:
        say("[red]every policy is paused[/red] by {}: {}", every["changed_by"], every["reason"])
    print_table(
        "retraining policies",
        ["policy", "endpoint", "model", "pipeline", "window", "strategies", "switch"],
        [
            (
                p.name,
                p.endpoint,
                p.model,
                p.pipeline,
                f"{p.window_days:g} d",
                " -> ".join(p.strategies),
                "off" if not switches.get(p.name, {"enabled": True})["enabled"] else "on",
            )
            for p in policies
        ],
    )


@app.command("list")
def list_cmd(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    json_out: JsonOpt = False,
) -> None:
    """The newest decisions of every policy."""
    from modelward.retraining import list_episodes

    with session_from_cli() as session:
        _episodes(list_episodes(session, limit=limit), json_out, "retraining decisions")


@app.command("history")
def history_cmd(
    policy: PolicyArg,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    json_out: JsonOpt = False,
) -> None:
    """One policy's decisions, newest first."""
    from modelward.retraining import find_policy, list_episodes, policies_of

    with session_from_cli() as session:
        find_policy(policies_of(session), policy)
        _episodes(list_episodes(session, policy, limit=limit), json_out, f"{policy}: decisions")


@app.command("show")
def show_cmd(
    episode: Annotated[str, typer.Argument(help="An episode id.")], json_out: JsonOpt = False
) -> None:
    """One decision with its checks, its evidence, its run, candidate and release."""
    from modelward.retraining import get_episode

    with session_from_cli() as session:
        found = get_episode(session, episode)
    if json_out:
        print_json(found.to_dict())
        return
    print_table(
        f"episode {found.id}",
        ["field", "value"],
        [
            ("policy", found.policy),
            ("trigger", f"{found.kind}: {found.key}"),
            ("decision", found.decision),
            ("state", found.state),
            ("reason", found.reason),
            ("window", f"{found.window_start} .. {found.window_end}" if found.window_end else "-"),
            ("run", found.run_id or "-"),
            ("candidate", found.candidate or "-"),
            ("release", found.release_id or "-"),
            ("linked triggers", found.linked),
        ],
    )
    print_table(
        "checks",
        ["check", "passed", "detail"],
        [(c["name"], "yes" if c["passed"] else "no", c["detail"]) for c in found.checks],
    )


@app.command("trigger")
def trigger_cmd(policy: PolicyArg, reason: ReasonOpt, json_out: JsonOpt = False) -> None:
    """Trigger POLICY by hand (a policy or product change); it is judged like any trigger,
    and a run it starts goes through the same evaluation, rollout and gates."""
    from modelward.retraining import trigger_by_hand
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        episode = trigger_by_hand(session, principal_for_cli(session), policy, reason)
    if json_out:
        print_json(episode.to_dict())
        return
    linked = " (linked to an episode already open)" if episode.was_linked else ""
    say("{}: {} -> {}{}: {}", policy, episode.decision, episode.state, linked, episode.reason)


@app.command("tick")
def tick_cmd(json_out: JsonOpt = False) -> None:
    """Look at every policy once: detect triggers, judge and act, move releases along
    (``modelward scheduler`` does this at every poll)."""
    from modelward.retraining import tick

    with session_from_cli() as session:
        touched = tick(session)
    _episodes(touched, json_out, "retraining: this look")


def _switch(scope: str, enabled: bool, reason: str) -> None:
    from modelward.retraining import find_policy, policies_of, set_switch
    from modelward.security import principal_for_cli

    with session_from_cli() as session:
        if scope != "*":
            find_policy(policies_of(session), scope)
        set_switch(session, principal_for_cli(session), scope, enabled=enabled, reason=reason)
    what = "every policy" if scope == "*" else scope
    say("{} " + ("resumed" if enabled else "[red]paused[/red]"), what)


ScopeArg = Annotated[
    str | None, typer.Argument(help="The policy; omit with --all for every policy.")
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every policy (the global switch).")]


@app.command("pause")
def pause_cmd(policy: ScopeArg = None, every: AllOpt = False, reason: ReasonOpt = "") -> None:
    """The kill switch: a paused policy still judges its triggers (recorded as "block"),
    and starts nothing."""
    _switch(_scope(policy, every), False, reason)


@app.command("resume")
def resume_cmd(policy: ScopeArg = None, every: AllOpt = False, reason: ReasonOpt = "") -> None:
    """Turn a policy (or every policy) back on."""
    _switch(_scope(policy, every), True, reason)


def _scope(policy: str | None, every: bool) -> str:
    from modelward.errors import InputError

    if every == (policy is not None):
        raise InputError("name a policy, or give --all (not both)", field="policy")
    return "*" if every else str(policy)

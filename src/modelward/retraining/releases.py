"""A decided episode's work: its pipeline run, then its candidate through the releases.

The run's verdict decides (:mod:`~modelward.retraining.runner`): no candidate, a failure
or a run stopped over its CPU budget closes the episode as ``failed`` or ``stopped``; a
candidate the acceptance policy rejected (or the champion again) as ``rejected``; an
accepted one goes into the policy's first release (shadow), and :func:`advance_episodes`
moves it to the next (canary) when the rollout controller's analysis passes, and to
``released`` when the release is promoted. None of it changes a registry stage.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from modelward.errors import Conflict, ModelwardError
from modelward.retraining.episodes import LOOP, Episode, change, list_episodes
from modelward.retraining.evidence import Evidence
from modelward.retraining.policies import RetrainPolicy, load_policies
from modelward.retraining.runner import Runner, RunOutcome
from modelward.security import Principal

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["advance_episodes", "run_decided", "start_release"]

_log = logging.getLogger("modelward.retraining")


def run_decided(
    session: Session,
    principal: Principal,
    policy: RetrainPolicy,
    episode: Episode,
    ev: Evidence,
    runner: Runner,
) -> Episode:
    pipeline = policy.pipeline if episode.decision == "retrain" else policy.recalibration_pipeline
    if not pipeline:
        return change(
            session,
            episode,
            principal.name,
            "noted",
            state="noted",
            reason="recalibration would suffice, but the policy names no recalibration_pipeline: "
            "recalibrate by hand, or name one",
        )
    params = dict(policy.params)
    window = {"start": episode.window_start, "end": episode.window_end}
    names = policy.window_params
    if episode.decision == "recalibrate":
        names = policy.recalibration_window_params or names
    for end, name in names.items():
        when = window[end]
        if when is not None:
            params[name] = when.isoformat()
    left = policy.budget.max_cpu_s - ev.cpu_today_s
    try:
        outcome = runner(session, policy, pipeline, params, cpu_budget_s=left)
    except ModelwardError as exc:
        outcome = RunOutcome("", False, error=f"{type(exc).__name__}: {exc.message}")
    except Exception as exc:  # the project's pipeline: its failure is the episode's, not ours
        outcome = RunOutcome("", False, error=f"{type(exc).__name__}: {exc}"[:500])
    base = {"run_id": outcome.run_id or None, "cpu_s": outcome.cpu_s}
    if outcome.stopped:
        return change(
            session,
            episode,
            principal.name,
            "stopped",
            state="stopped",
            reason=outcome.error,
            **base,
        )
    if not outcome.ok or outcome.candidate is None:
        return change(
            session, episode, principal.name, "failed", state="failed", reason=outcome.error, **base
        )
    if outcome.candidate == ev.serving or not outcome.accepted:
        why = (
            "the run produced the serving version again"
            if outcome.candidate == ev.serving
            else "rejected at evaluation against the champion"
        )
        return change(
            session,
            episode,
            principal.name,
            "rejected",
            state="rejected",
            candidate=outcome.candidate,
            reason=f"{outcome.candidate} {why}; {ev.serving or 'the champion'} stays",
            **base,
        )
    running = change(
        session, episode, principal.name, "candidate", candidate=outcome.candidate, **base
    )
    return start_release(session, principal, policy, running, ev.serving, stage=0)


def start_release(
    session: Session,
    principal: Principal,
    policy: RetrainPolicy,
    episode: Episode,
    baseline: str | None,
    *,
    stage: int,
) -> Episode:
    from modelward import rollout

    strategy = policy.strategies[stage]
    if baseline is None:
        return change(
            session,
            episode,
            principal.name,
            "failed",
            state="failed",
            reason=f"{policy.model} has no Production version to release against",
        )
    try:
        release = rollout.start_release(
            session,
            principal,
            endpoint=policy.endpoint,
            baseline=baseline,
            candidate=episode.candidate or "",
            strategy=strategy,
            policy=rollout.parse_policy(policy.rollout) if policy.rollout else None,
        )
    except ModelwardError as exc:
        return change(
            session,
            episode,
            principal.name,
            "failed",
            state="failed",
            reason=f"the {strategy} release could not start: {exc.message}",
        )
    return change(
        session,
        episode,
        principal.name,
        "release_started",
        state="releasing",
        release_id=release.id,
        stage=stage,
        reason=f"{episode.candidate} in a {strategy} release on {policy.endpoint}",
    )


def advance_episodes(session: Session, principal: Principal = LOOP) -> list[Episode]:
    """Move each releasing episode along with its release: the next strategy once a shadow
    passes, ``released`` once promoted, ``rolled_back`` when the release ended otherwise."""
    from modelward import rollout

    policies = {p.name: p for p in load_policies(session.workspace.settings.retraining.policies)}
    moved = []
    for episode in list_episodes(session, limit=1000):
        if episode.state != "releasing" or episode.release_id is None:
            continue
        policy = policies.get(episode.policy)
        try:
            release = rollout.get_release(session, episode.release_id)
            if release.state == "promoted":
                moved.append(
                    change(
                        session,
                        episode,
                        principal.name,
                        "released",
                        state="released",
                        reason=f"{release.candidate} answers {release.endpoint}; its Production "
                        "stage waits for the stage policy's gates and approvals",
                    )
                )
            elif release.state in ("rolled_back", "aborted"):
                moved.append(
                    change(
                        session,
                        episode,
                        principal.name,
                        "rolled_back",
                        state="rolled_back",
                        reason=f"the {release.strategy.value} release was {release.state}",
                    )
                )
            elif (
                policy is not None
                and release.live
                and release.strategy.value == "shadow"
                and (release.last_analysis or {}).get("verdict") == "pass"
                and episode.stage + 1 < len(policy.strategies)
            ):
                nxt = policy.strategies[episode.stage + 1]
                rollout.abort(
                    session,
                    principal,
                    release.endpoint,
                    expected_version=release.version,
                    reason=f"shadow passed; retraining continues with {nxt}",
                )
                moved.append(
                    start_release(
                        session,
                        principal,
                        policy,
                        episode,
                        release.baseline,
                        stage=episode.stage + 1,
                    )
                )
        except Conflict as exc:  # another loop moved it first: its change stands
            _log.info("%s", exc.message)
    return moved

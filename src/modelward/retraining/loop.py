"""The loop: a trigger judged, one run per episode, the candidate through rollout's doors.

::

    trigger ──► linked to an open episode, or to its own within the cooldown
       │
       ▼ judge (evidence, checks)
    wait / block ──► recorded, closed (the same decision again is linked, not repeated)
    retrain / recalibrate ──► running ──► rejected (evaluation: the champion stays)
                                 │    ├─► failed (the run, or no candidate)
                                 │    └─► stopped (over the CPU budget, between steps)
                                 ▼
                             releasing (shadow) ──analysis passes──► releasing (canary)
                                 │                                      │
                                 ▼ rolled back / aborted                ▼ promoted (traffic)
                             rolled_back                             released

An episode opens by inserting a row whose ``open_slot`` is the policy's name under a
UNIQUE index: however many schedulers judge the same trigger at once, one insert wins and
the others link to it, so one run starts per episode. Every change of an episode is one
transaction with its audit entry. ``released`` means the candidate answers the endpoint's
traffic; its registry stage (Production) changes only through ``modelward models
promote`` with the stage policy's gates and approvals: nothing here can skip them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelward.errors import Conflict, InputError
from modelward.retraining.episodes import (
    LOOP,
    Episode,
    audit,
    episode_from_row,
    get_episode,
)
from modelward.retraining.evidence import Evidence, gather
from modelward.retraining.judgement import Judgement, judge
from modelward.retraining.policies import RetrainPolicy, find_policy, load_policies
from modelward.retraining.releases import advance_episodes, run_decided
from modelward.retraining.runner import Runner, pipeline_runner
from modelward.retraining.tables import retrain_episodes
from modelward.retraining.triggers import Trigger, detect, manual
from modelward.security import Permission, Principal

if TYPE_CHECKING:
    from modelward.session import Session

_log = logging.getLogger("modelward.retraining")

__all__ = [
    "decide_trigger",
    "handle_trigger",
    "policies_of",
    "run_episode",
    "tick",
    "trigger_by_hand",
]


def policies_of(session: Session) -> list[RetrainPolicy]:
    return load_policies(session.workspace.settings.retraining.policies)


def _link(conn: Connection, row: Row[Any], trigger: Trigger, actor: str) -> Episode:
    conn.execute(
        update(retrain_episodes)
        .where(retrain_episodes.c.id == row.id)
        .values(linked=retrain_episodes.c.linked + 1, updated_at=datetime.now(UTC))
    )
    audit(conn, actor, "trigger_linked", row.id, row.policy, trigger=trigger.to_dict())
    fresh = conn.execute(select(retrain_episodes).where(retrain_episodes.c.id == row.id)).one()
    return episode_from_row(fresh, linked=True)


def _open_of(conn: Connection, policy: str) -> Row[Any] | None:
    return conn.execute(
        select(retrain_episodes).where(retrain_episodes.c.open_slot == policy)
    ).first()


def _latest_of(conn: Connection, policy: str, key: str) -> Row[Any] | None:
    return conn.execute(
        select(retrain_episodes)
        .where(retrain_episodes.c.policy == policy, retrain_episodes.c.key == key)
        .order_by(retrain_episodes.c.created_at.desc())
        .limit(1)
    ).first()


def _linkable(
    conn: Connection, policy: RetrainPolicy, trigger: Trigger, now: datetime
) -> Row[Any] | None:
    """The episode this trigger belongs to: the policy's open one, else its own key's run
    still within the cooldown. A ``running`` episode with no progress for the policy's
    ``run_timeout_s`` is closed as abandoned first (its process was killed mid-run), so a
    crash never holds the policy's slot for good."""
    opened = _open_of(conn, policy.name)
    if opened is not None and opened.state == "running":
        idle = (datetime.now(UTC) - opened.updated_at).total_seconds()
        if idle > policy.run_timeout_s:
            reason = f"abandoned: no progress for {idle:.0f} s (the run's process stopped)"
            conn.execute(
                update(retrain_episodes)
                .where(retrain_episodes.c.id == opened.id)
                .values(
                    state="abandoned",
                    reason=reason,
                    open_slot=None,
                    closed_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
            )
            audit(conn, "retraining", "abandoned", opened.id, policy.name, reason=reason)
            opened = None
    if opened is not None:
        return opened
    same = _latest_of(conn, policy.name, trigger.key)
    if same is None or same.decision not in ("retrain", "recalibrate"):
        return None
    if same.state == "abandoned":  # it never finished: its trigger may start a run again
        return None
    ended = same.closed_at or now
    return same if now - ended < timedelta(seconds=policy.cooldown_s) else None


def _insert(
    conn: Connection,
    policy: RetrainPolicy,
    trigger: Trigger,
    judgement: Judgement,
    evidence: Evidence,
    actor: str,
    now: datetime,
) -> str:
    runs = judgement.decision in ("retrain", "recalibrate")
    days = (
        policy.recalibration_window_days
        if judgement.decision == "recalibrate"
        else policy.window_days
    )
    state = "running" if runs else ("blocked" if judgement.decision == "block" else "waited")
    episode_id = uuid.uuid4().hex
    conn.execute(
        insert(retrain_episodes).values(
            id=episode_id,
            policy=policy.name,
            key=trigger.key[:300],
            kind=trigger.kind,
            decision=judgement.decision,
            state=state,
            reason=judgement.reason[:2000],
            checks=[c.__dict__ for c in judgement.checks],
            evidence={"trigger": trigger.to_dict(), "seen": evidence.to_dict()},
            window_start=now - timedelta(days=days) if runs else None,
            window_end=now if runs else None,
            stage=0,
            cpu_s=0.0,
            linked=0,
            open_slot=policy.name if runs else None,
            created_by=actor,
            created_at=now,
            # the wall clock, as every later change's: a running episode's idle time is
            # measured with it (a look at another ``now`` must not make it look abandoned)
            updated_at=datetime.now(UTC),
            closed_at=None if runs else now,
        )
    )
    audit(
        conn,
        actor,
        "decided",
        episode_id,
        policy.name,
        decision=judgement.decision,
        reason=judgement.reason[:500],
        trigger=trigger.to_dict(),
        checks=[c.__dict__ for c in judgement.checks],
    )
    return episode_id


def _repeat_of(
    conn: Connection, policy: RetrainPolicy, trigger: Trigger, judgement: Judgement
) -> Row[Any] | None:
    """The last episode of this key, when it reached the same wait/block decision: seen
    again, it is linked rather than written again at every look."""
    if judgement.decision not in ("wait", "block"):
        return None
    same = _latest_of(conn, policy.name, trigger.key)
    if (
        same is None
        or same.decision != judgement.decision
        or same.reason != judgement.reason[:2000]
    ):
        return None
    return same


def decide_trigger(
    session: Session,
    principal: Principal,
    policy: RetrainPolicy,
    trigger: Trigger,
    *,
    evidence: Evidence | None = None,
    now: datetime | None = None,
) -> tuple[Episode, Evidence]:
    """Judge ``trigger`` and record the decision; nothing runs yet. The episode is open
    (``running``) when a run is due and this trigger opened it (not ``was_linked``)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    ev = evidence or gather(session, policy, now)
    with session.store.transaction() as conn:
        existing = _linkable(conn, policy, trigger, now)
        if existing is not None:
            return _link(conn, existing, trigger, principal.name), ev
    judgement = judge(policy, trigger, ev)
    try:
        with session.store.transaction() as conn:
            repeat = _repeat_of(conn, policy, trigger, judgement)
            if repeat is not None:
                return _link(conn, repeat, trigger, principal.name), ev
            episode_id = _insert(conn, policy, trigger, judgement, ev, principal.name, now)
    except IntegrityError:
        # another scheduler opened this policy's episode between our look and our insert
        with session.store.transaction() as conn:
            opened = _open_of(conn, policy.name)
            if opened is None:
                raise
            return _link(conn, opened, trigger, principal.name), ev
    return get_episode(session, episode_id), ev


def run_episode(
    session: Session,
    principal: Principal,
    policy: RetrainPolicy,
    episode: Episode,
    evidence: Evidence,
    *,
    runner: Runner | None = None,
) -> Episode:
    """Run a decided episode: the pipeline, then the candidate's first release."""
    if not episode.open or episode.was_linked or episode.state != "running":
        return episode
    try:
        return run_decided(session, principal, policy, episode, evidence, runner or pipeline_runner)
    except Conflict as exc:
        # closed under the run (abandoned after run_timeout_s without progress): the
        # closed episode stands, and what this run found is only logged
        _log.warning("%s", exc.message)
        return get_episode(session, episode.id)


def handle_trigger(
    session: Session,
    principal: Principal,
    policy: RetrainPolicy,
    trigger: Trigger,
    *,
    evidence: Evidence | None = None,
    runner: Runner | None = None,
    now: datetime | None = None,
) -> Episode:
    """Judge ``trigger`` and act on the decision; returns its episode (``was_linked`` when
    the trigger joined an episode already there)."""
    episode, ev = decide_trigger(session, principal, policy, trigger, evidence=evidence, now=now)
    return run_episode(session, principal, policy, episode, ev, runner=runner)


def trigger_by_hand(
    session: Session,
    principal: Principal,
    policy_name: str,
    reason: str,
    *,
    runner: Runner | None = None,
    background: Callable[[Callable[[], object]], None] | None = None,
) -> Episode:
    """A person's trigger with its reason (a policy or product change), judged like any.
    With ``background`` (the REST API's), a due run is handed to it and the decided,
    ``running`` episode is returned at once."""
    principal.require(Permission.RETRAINING_OPERATE)
    if not reason.strip():
        raise InputError("reason: say why (it is recorded with the decision)", field="reason")
    policy = find_policy(policies_of(session), policy_name)
    now = datetime.now(UTC)
    trigger = manual(reason[:500], principal.name, now)
    episode, ev = decide_trigger(session, principal, policy, trigger, now=now)
    if background is not None:
        background(lambda: run_episode(session, principal, policy, episode, ev, runner=runner))
        return episode
    return run_episode(session, principal, policy, episode, ev, runner=runner)


def tick(
    session: Session,
    principal: Principal = LOOP,
    *,
    now: datetime | None = None,
    runner: Runner | None = None,
) -> list[Episode]:
    """One look at every policy: detect triggers, handle each, then advance releases."""
    touched: list[Episode] = []
    for policy in policies_of(session):
        evidence = gather(session, policy, now)
        for trigger in detect(policy, evidence):
            touched.append(
                handle_trigger(
                    session, principal, policy, trigger, evidence=evidence, runner=runner, now=now
                )
            )
    touched.extend(advance_episodes(session, principal))
    return touched

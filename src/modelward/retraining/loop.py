"""The loop: a trigger judged, one run per episode, the candidate through rollout's doors.

::

    trigger ──► linked to an open episode, or to its own within the cooldown
       │
       ▼ judge (evidence, checks)
    wait / block ──► recorded, closed (the same decision again is linked, not repeated)
    retrain / recalibrate ──► running ──► rejected (evaluation: the champion stays)
                                 │    └─► failed (the run, or no candidate)
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

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelward import security
from modelward.errors import InputError, ModelwardError, NotFound
from modelward.retraining.evidence import Evidence, gather
from modelward.retraining.judgement import Judgement, judge
from modelward.retraining.policies import RetrainPolicy, find_policy, load_policies
from modelward.retraining.runner import Runner, RunOutcome, pipeline_runner
from modelward.retraining.tables import retrain_episodes
from modelward.retraining.triggers import Trigger, detect, manual
from modelward.security import Permission, Principal, Role

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "Episode",
    "advance_episodes",
    "decide_trigger",
    "get_episode",
    "handle_trigger",
    "list_episodes",
    "policies_of",
    "run_episode",
    "tick",
    "trigger_by_hand",
]

OPEN_STATES = frozenset({"running", "releasing"})
#: who the scheduler acts as: it may start releases, never approve or change a stage
LOOP = Principal("retraining", Role.OPERATOR, kind="service")


@dataclass(frozen=True)
class Episode:
    id: str
    policy: str
    key: str
    kind: str
    decision: str
    state: str
    reason: str
    checks: list[dict[str, Any]]
    evidence: dict[str, Any]
    window_start: datetime | None
    window_end: datetime | None
    run_id: str | None
    candidate: str | None
    release_id: str | None
    stage: int
    cpu_s: float
    linked: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    #: for the caller of :func:`handle_trigger`: this trigger was linked, nothing started
    was_linked: bool = field(default=False, compare=False)

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "was_linked"}
        for k in ("window_start", "window_end", "created_at", "updated_at", "closed_at"):
            data[k] = data[k].isoformat() if data[k] is not None else None
        return data


def _episode(row: Row[Any], *, linked: bool = False) -> Episode:
    m = dict(row._mapping)
    m.pop("open_slot", None)
    return Episode(**m, was_linked=linked)


def policies_of(session: Session) -> list[RetrainPolicy]:
    return load_policies(session.workspace.settings.retraining.policies)


def get_episode(session: Session, episode_id: str) -> Episode:
    with session.store.read() as conn:
        row = conn.execute(
            select(retrain_episodes).where(retrain_episodes.c.id == episode_id)
        ).first()
    if row is None:
        raise NotFound(f"retraining episode {episode_id[:40]!r} does not exist")
    return _episode(row)


def list_episodes(session: Session, policy: str | None = None, *, limit: int = 50) -> list[Episode]:
    """Episodes newest first (every decision, with its checks and evidence)."""
    query = select(retrain_episodes).order_by(retrain_episodes.c.created_at.desc())
    if policy is not None:
        query = query.where(retrain_episodes.c.policy == policy)
    with session.store.read() as conn:
        rows = conn.execute(query.limit(max(1, min(limit, 1000)))).all()
    return [_episode(r) for r in rows]


def _audit(
    conn: Connection, actor: str, action: str, ep_id: str, policy: str, **payload: Any
) -> None:
    security.record(
        conn,
        actor=actor,
        action=f"retraining.{action}",
        target=f"retraining:{policy}",
        payload={"episode": ep_id, **payload},
    )


def _change(session: Session, episode: Episode, actor: str, action: str, **values: Any) -> Episode:
    """One change of an episode and its audit entry, in one transaction."""
    now = datetime.now(UTC)
    if values.get("state") is not None and values["state"] not in OPEN_STATES:
        values |= {"open_slot": None, "closed_at": now}
    with session.store.transaction() as conn:
        conn.execute(
            update(retrain_episodes)
            .where(retrain_episodes.c.id == episode.id)
            .values(updated_at=now, **values)
        )
        _audit(
            conn,
            actor,
            action,
            episode.id,
            episode.policy,
            **{
                k: v
                for k, v in values.items()
                if k in ("state", "reason", "candidate", "release_id")
            },
        )
        row = conn.execute(
            select(retrain_episodes).where(retrain_episodes.c.id == episode.id)
        ).one()
    return _episode(row)


def _link(conn: Connection, row: Row[Any], trigger: Trigger, actor: str) -> Episode:
    conn.execute(
        update(retrain_episodes)
        .where(retrain_episodes.c.id == row.id)
        .values(linked=retrain_episodes.c.linked + 1, updated_at=datetime.now(UTC))
    )
    _audit(conn, actor, "trigger_linked", row.id, row.policy, trigger=trigger.to_dict())
    fresh = conn.execute(select(retrain_episodes).where(retrain_episodes.c.id == row.id)).one()
    return _episode(fresh, linked=True)


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
            _audit(conn, "retraining", "abandoned", opened.id, policy.name, reason=reason)
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
            window_start=now - timedelta(days=policy.window_days) if runs else None,
            window_end=now if runs else None,
            stage=0,
            cpu_s=0.0,
            linked=0,
            open_slot=policy.name if runs else None,
            created_by=actor,
            created_at=now,
            updated_at=now,
            closed_at=None if runs else now,
        )
    )
    _audit(
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
    return _run(session, principal, policy, episode, evidence, runner or pipeline_runner)


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


def _run(
    session: Session,
    principal: Principal,
    policy: RetrainPolicy,
    episode: Episode,
    ev: Evidence,
    runner: Runner,
) -> Episode:
    pipeline = policy.pipeline if episode.decision == "retrain" else policy.recalibration_pipeline
    if not pipeline:
        return _change(
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
    for end, name in policy.window_params.items():
        when = window[end]
        if when is not None:
            params[name] = when.isoformat()
    try:
        outcome = runner(session, policy, pipeline, params)
    except ModelwardError as exc:
        outcome = RunOutcome("", False, error=f"{type(exc).__name__}: {exc.message}")
    except Exception as exc:  # the project's pipeline: its failure is the episode's, not ours
        outcome = RunOutcome("", False, error=f"{type(exc).__name__}: {exc}"[:500])
    base = {"run_id": outcome.run_id or None, "cpu_s": outcome.cpu_s}
    if not outcome.ok or outcome.candidate is None:
        return _change(
            session, episode, principal.name, "failed", state="failed", reason=outcome.error, **base
        )
    if outcome.candidate == ev.serving or not outcome.accepted:
        why = (
            "the run produced the serving version again"
            if outcome.candidate == ev.serving
            else "rejected at evaluation against the champion"
        )
        return _change(
            session,
            episode,
            principal.name,
            "rejected",
            state="rejected",
            candidate=outcome.candidate,
            reason=f"{outcome.candidate} {why}; {ev.serving or 'the champion'} stays",
            **base,
        )
    running = _change(
        session, episode, principal.name, "candidate", candidate=outcome.candidate, **base
    )
    return _start_release(session, principal, policy, running, ev.serving, stage=0)


def _start_release(
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
        return _change(
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
        )
    except ModelwardError as exc:
        return _change(
            session,
            episode,
            principal.name,
            "failed",
            state="failed",
            reason=f"the {strategy} release could not start: {exc.message}",
        )
    return _change(
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

    policies = {p.name: p for p in policies_of(session)}
    moved = []
    for episode in list_episodes(session, limit=1000):
        if episode.state != "releasing" or episode.release_id is None:
            continue
        policy = policies.get(episode.policy)
        release = rollout.get_release(session, episode.release_id)
        if release.state == "promoted":
            moved.append(
                _change(
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
                _change(
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
                _start_release(
                    session, principal, policy, episode, release.baseline, stage=episode.stage + 1
                )
            )
    return moved


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

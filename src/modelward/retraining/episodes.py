"""An episode: one trigger's decision, its run and its release, as stored and audited.

Every change of an episode is one transaction with its audit entry (:func:`change`);
closing it (any state but ``running`` and ``releasing``) frees the policy's slot. A change
applies only to the state its caller read: a run that finishes after the loop closed its
episode as abandoned is refused (:class:`~modelward.errors.Conflict`), never written over
the closed episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, select, update

from modelward import security
from modelward.errors import Conflict, NotFound
from modelward.retraining.tables import retrain_episodes
from modelward.security import Principal, Role

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "LOOP",
    "OPEN_STATES",
    "Episode",
    "audit",
    "change",
    "episode_from_row",
    "get_episode",
    "list_episodes",
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


def episode_from_row(row: Row[Any], *, linked: bool = False) -> Episode:
    m = dict(row._mapping)
    m.pop("open_slot", None)
    return Episode(**m, was_linked=linked)


def get_episode(session: Session, episode_id: str) -> Episode:
    with session.store.read() as conn:
        row = conn.execute(
            select(retrain_episodes).where(retrain_episodes.c.id == episode_id)
        ).first()
    if row is None:
        raise NotFound(f"retraining episode {episode_id[:40]!r} does not exist")
    return episode_from_row(row)


def list_episodes(session: Session, policy: str | None = None, *, limit: int = 50) -> list[Episode]:
    """Episodes newest first (every decision, with its checks and evidence)."""
    query = select(retrain_episodes).order_by(retrain_episodes.c.created_at.desc())
    if policy is not None:
        query = query.where(retrain_episodes.c.policy == policy)
    with session.store.read() as conn:
        rows = conn.execute(query.limit(max(1, min(limit, 1000)))).all()
    return [episode_from_row(r) for r in rows]


def audit(
    conn: Connection, actor: str, action: str, ep_id: str, policy: str, **payload: Any
) -> None:
    security.record(
        conn,
        actor=actor,
        action=f"retraining.{action}",
        target=f"retraining:{policy}",
        payload={"episode": ep_id, **payload},
    )


def change(session: Session, episode: Episode, actor: str, action: str, **values: Any) -> Episode:
    """One change of an episode and its audit entry, in one transaction; refused
    (``Conflict``, nothing written) when the episode is no longer in ``episode.state``."""
    now = datetime.now(UTC)
    if values.get("state") is not None and values["state"] not in OPEN_STATES:
        values |= {"open_slot": None, "closed_at": now}
    with session.store.transaction() as conn:
        changed = conn.execute(
            update(retrain_episodes)
            .where(retrain_episodes.c.id == episode.id)
            .where(retrain_episodes.c.state == episode.state)
            .values(updated_at=now, **values)
        )
        if changed.rowcount != 1:
            now_row = conn.execute(
                select(retrain_episodes.c.state, retrain_episodes.c.reason).where(
                    retrain_episodes.c.id == episode.id
                )
            ).one_or_none()
            if now_row is None:
                raise NotFound(f"retraining episode {episode.id!r} does not exist")
            raise Conflict(
                f"retraining episode {episode.id} is {now_row.state} now, not "
                f"{episode.state} ({now_row.reason or 'no reason recorded'}); "
                f"{action!r} was not recorded"
            )
        audit(
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
    return episode_from_row(row)

"""Releases: a candidate version rolled out on an endpoint, as a state machine in the store.

::

    start ──► running ──advance──► running (next step) ──promote──► promoted ──rollback──┐
                │  ▲                                                                     ▼
          pause │  │ resume         abort ──► aborted          rollback ──► rolled_back ◄┘
                ▼  │                fail ──► failed (the gateway could not load the candidate)
               paused

Every change is one transaction with its audit entry (target ``endpoint:<name>``, the
analysis evidence in the payload). Each release row carries a ``version``, bumped by
every change, and a change is an ``UPDATE ... WHERE version = <read>``: of two operators
acting at once one wins, the other gets :class:`~modelward.errors.Conflict` (409, exit 1)
and nothing of theirs is written. A second live release on one endpoint is refused by a
unique column, so even two simultaneous starts cannot both succeed.

Commands act on an endpoint's *current* release: its newest one (the highest ``seq``).
This module holds the release record and its reads; :mod:`modelward.rollout.changes`
every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, func, select

from modelward.errors import NotFound
from modelward.rollout.plans import EndpointPlan, Strategy, TrafficPlan
from modelward.rollout.policy import RolloutPolicy
from modelward.rollout.tables import releases

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "LIVE_STATES",
    "Release",
    "current_plans",
    "current_release",
    "get_release",
    "list_releases",
]

LIVE_STATES = frozenset({"running", "paused"})


@dataclass(frozen=True)
class Release:
    id: str
    endpoint: str
    seq: int
    strategy: Strategy
    baseline: str
    candidate: str
    policy: RolloutPolicy
    state: str
    step: int
    step_started_at: datetime
    held_since: datetime | None
    version: int
    last_analysis: dict[str, Any] | None
    lease_owner: str | None
    lease_until: datetime | None
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def weight(self) -> float:
        """The candidate's share of answers now, in percent."""
        if self.state == "promoted":
            return 100.0
        if not self.live or self.strategy is Strategy.SHADOW:
            return 0.0
        if self.strategy is Strategy.BLUE_GREEN:
            return 100.0 if self.step >= 1 else 0.0
        return self.policy.steps[self.step]

    @property
    def last_step(self) -> int:
        if self.strategy is Strategy.CANARY:
            return len(self.policy.steps) - 1
        return 1 if self.strategy is Strategy.BLUE_GREEN else 0

    @property
    def candidate_role(self) -> str:
        """The role the candidate's rows carry in the prediction log."""
        return "shadow" if self.strategy is Strategy.SHADOW else "candidate"

    def plan(self) -> TrafficPlan:
        """The traffic plan this release puts on its endpoint now."""
        if self.state == "promoted":
            return TrafficPlan.single(self.candidate)
        if not self.live:
            return TrafficPlan.single(self.baseline)
        sticky = self.policy.sticky_by
        if self.strategy is Strategy.SHADOW:
            return TrafficPlan.shadow(
                self.baseline,
                self.candidate,
                percent=self.policy.shadow_percent,
                release_id=self.id,
                sticky_by=sticky,
            )
        if self.strategy is Strategy.BLUE_GREEN:
            return TrafficPlan.blue_green(
                self.baseline,
                self.candidate,
                green_live=self.step >= 1,
                release_id=self.id,
                sticky_by=sticky,
            )
        return TrafficPlan.canary(
            self.baseline, self.candidate, weight=self.weight, release_id=self.id, sticky_by=sticky
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "seq": self.seq,
            "strategy": self.strategy.value,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "state": self.state,
            "step": self.step,
            "weight": self.weight,
            "steps": list(self.policy.steps),
            "version": self.version,
            "step_started_at": self.step_started_at,
            "held_since": self.held_since,
            "last_analysis": self.last_analysis,
            "lease_owner": self.lease_owner,
            "lease_until": self.lease_until,
            "policy": self.policy.model_dump(mode="json"),
            "plan": self.plan().to_dict(),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


def _from_row(row: Row[Any]) -> Release:
    return Release(
        row.id,
        row.endpoint,
        row.seq,
        Strategy(row.strategy),
        row.baseline,
        row.candidate,
        RolloutPolicy.model_validate(row.policy),
        row.state,
        row.step,
        row.step_started_at,
        row.held_since,
        row.version,
        row.last_analysis,
        row.lease_owner,
        row.lease_until,
        row.created_by,
        row.created_at,
        row.updated_by,
        row.updated_at,
    )


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


# -- reads ------------------------------------------------------------------------------


def get_release(session: Session, release_id: str) -> Release:
    with session.store.read() as conn:
        row = conn.execute(select(releases).where(releases.c.id == release_id)).first()
    if row is None:
        raise NotFound(f"release {release_id[:40]!r} does not exist", release=release_id[:40])
    return _from_row(row)


def _current_in(conn: Connection, endpoint: str) -> Release | None:
    row = conn.execute(
        select(releases)
        .where(releases.c.endpoint == endpoint)
        .order_by(releases.c.seq.desc())
        .limit(1)
    ).first()
    return _from_row(row) if row is not None else None


def current_release(session: Session, endpoint: str) -> Release:
    """The endpoint's newest release (live or finished); NotFound when it never had one."""
    with session.store.read() as conn:
        found = _current_in(conn, endpoint)
    if found is None:
        raise NotFound(
            f"endpoint {endpoint[:128]!r} has no release: start one with "
            f"`modelward rollout start {endpoint[:128]} --candidate NAME@V --strategy canary`",
            endpoint=endpoint[:128],
        )
    return found


def list_releases(
    session: Session, endpoint: str | None = None, *, live_only: bool = False
) -> list[Release]:
    """Releases, newest first."""
    query = select(releases).order_by(
        releases.c.created_at.desc(), releases.c.endpoint, releases.c.seq.desc()
    )
    if endpoint is not None:
        query = query.where(releases.c.endpoint == endpoint)
    if live_only:
        query = query.where(releases.c.state.in_(sorted(LIVE_STATES)))
    with session.store.read() as conn:
        return [_from_row(r) for r in conn.execute(query)]


def current_plans(session: Session) -> dict[str, EndpointPlan]:
    """What releases say about each endpoint's traffic, for the gateway's config refresh:
    a live release's plan, or a promoted release's single candidate. Endpoints whose
    newest release was aborted or rolled back (or that never had one) are absent: they
    serve their definition's model."""
    newest = (
        select(releases.c.endpoint, func.max(releases.c.seq).label("seq"))
        .group_by(releases.c.endpoint)
        .subquery()
    )
    # one row per endpoint, whatever the length of its history (the gateway polls this)
    query = select(releases).join(
        newest, (releases.c.endpoint == newest.c.endpoint) & (releases.c.seq == newest.c.seq)
    )
    with session.store.read() as conn:
        found = [_from_row(r) for r in conn.execute(query)]
    return {
        release.endpoint: EndpointPlan(release.plan(), release.live, release.updated_at)
        for release in found
        if release.live or release.state == "promoted"
    }

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
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelward import security
from modelward.errors import CheckFailed, Conflict, InputError, NotFound
from modelward.rollout.plans import EndpointPlan, Strategy, TrafficPlan, parse_strategy
from modelward.rollout.policy import RolloutPolicy
from modelward.rollout.tables import releases
from modelward.security import Permission, Principal

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "LIVE_STATES",
    "Release",
    "abort",
    "advance",
    "current_plans",
    "current_release",
    "fail",
    "get_release",
    "list_releases",
    "pause",
    "promote",
    "record_smoke",
    "resume",
    "rollback",
    "start_release",
]

LIVE_STATES = frozenset({"running", "paused"})
#: the longest load error kept as a failed release's evidence
_ERROR_CHARS = 2_000


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


# -- start ------------------------------------------------------------------------------


def start_release(
    session: Session,
    principal: Principal,
    *,
    endpoint: str,
    baseline: str,
    candidate: str,
    strategy: str | Strategy,
    policy: RolloutPolicy | None = None,
    now: datetime | None = None,
) -> Release:
    """Start rolling ``candidate`` (``NAME@VERSION``) out on ``endpoint``, now serving
    ``baseline``. Refused: a candidate that does not exist (404) or whose lineage is
    incomplete (its lineage gate fails, exit 1), and a second live release (409)."""
    from modelward.registry import get_version

    principal.require(Permission.RELEASES_OPERATE)
    chosen = strategy if isinstance(strategy, Strategy) else parse_strategy(strategy)
    if chosen is Strategy.SINGLE:
        raise InputError(
            "strategy: a release rolls a candidate out; use canary, blue-green or shadow",
            field="strategy",
        )
    policy = policy or RolloutPolicy()
    version = get_version(session, candidate)
    if version.ref == baseline:
        raise InputError(
            f"candidate: {version.ref} is what {endpoint} serves already", field="candidate"
        )
    if not version.lineage_complete:
        gate = {
            "gate": "lineage_complete",
            "passed": False,
            "message": f"lineage incomplete: missing {', '.join(version.lineage_missing)}",
            "evidence": {"missing": version.lineage_missing},
        }
        raise CheckFailed(
            f"candidate {version.ref} fails its lineage gate ({gate['message']}); "
            "a release needs a version that can pass a promotion gate",
            gate_results=[gate],
        )
    at = _now(now)
    release_id = f"rel-{uuid.uuid4().hex[:12]}"
    try:
        with session.store.transaction() as conn:
            live = _current_in(conn, endpoint)
            if live is not None and live.live:
                raise _second_release(endpoint, live.id)
            conn.execute(
                insert(releases).values(
                    id=release_id,
                    endpoint=endpoint,
                    seq=live.seq + 1 if live is not None else 1,
                    active_endpoint=endpoint,
                    strategy=chosen.value,
                    baseline=baseline,
                    candidate=version.ref,
                    policy=policy.model_dump(mode="json"),
                    state="running",
                    step=0,
                    step_started_at=at,
                    held_since=None,
                    version=1,
                    last_analysis=None,
                    created_by=principal.name,
                    created_at=at,
                    updated_by=principal.name,
                    updated_at=at,
                )
            )
            release = _current_in(conn, endpoint)
            assert release is not None
            security.record(
                conn,
                actor=principal.name,
                action="release.start",
                target=f"endpoint:{endpoint}",
                payload={
                    "release": release_id,
                    "strategy": chosen.value,
                    "baseline": baseline,
                    "candidate": version.ref,
                    "plan": release.plan().to_dict(),
                    "policy": policy.model_dump(mode="json"),
                },
            )
    except IntegrityError:  # another start won the unique active_endpoint (or seq)
        raise _second_release(endpoint, None) from None
    return release


def _second_release(endpoint: str, other: str | None) -> Conflict:
    which = f" ({other})" if other else ""
    return Conflict(
        f"endpoint {endpoint} already has a live release{which}: promote, abort or roll it "
        "back before starting another",
        endpoint=endpoint,
    )


# -- changes ----------------------------------------------------------------------------


def _change(
    session: Session,
    principal: Principal,
    endpoint: str,
    action: str,
    *,
    allowed: frozenset[str],
    expected_version: int | None,
    values: Mapping[str, Any] | None = None,
    evidence: Mapping[str, Any] | None = None,
    reason: str | None = None,
    now: datetime | None = None,
    step_change: int = 0,
    release_id: str | None = None,
) -> Release:
    principal.require(Permission.RELEASES_OPERATE)
    at = _now(now)
    with session.store.transaction() as conn:
        release = _current_in(conn, endpoint)
        if release is None:
            raise NotFound(f"endpoint {endpoint[:128]!r} has no release", endpoint=endpoint[:128])
        if release_id is not None and release.id != release_id:
            raise Conflict(
                f"release {release_id[:40]} is no longer the current one on {endpoint}",
                release=release_id[:40],
            )
        if expected_version is not None and expected_version != release.version:
            raise _stale(release, expected_version)
        if release.state not in allowed:
            raise Conflict(
                f"release {release.id} on {endpoint} is {release.state}; {action} needs "
                f"{' or '.join(sorted(allowed))}",
                release=release.id,
                state=release.state,
            )
        step = release.step + step_change
        if step_change and step > release.last_step:
            hint = "promote it" if release.strategy is not Strategy.SHADOW else "promote or abort"
            raise Conflict(
                f"release {release.id} is at its last step ({release.weight:g}%); {hint}",
                release=release.id,
            )
        changes: dict[str, Any] = {
            "version": release.version + 1,
            "updated_by": principal.name,
            "updated_at": at,
            **(values or {}),
        }
        if step_change:
            changes.update(step=step, step_started_at=at, held_since=None)
        done = conn.execute(
            update(releases)
            .where(releases.c.id == release.id, releases.c.version == release.version)
            .values(**changes)
        )
        if done.rowcount != 1:  # another writer committed between our read and write
            raise _stale(release, release.version)
        after = _current_in(conn, endpoint)
        assert after is not None
        security.record(
            conn,
            actor=principal.name,
            action=f"release.{action}",
            target=f"endpoint:{endpoint}",
            payload={
                "release": release.id,
                "from": {"state": release.state, "step": release.step, "weight": release.weight},
                "to": {"state": after.state, "step": after.step, "weight": after.weight},
                "plan": after.plan().to_dict(),
                **({"evidence": dict(evidence)} if evidence else {}),
            },
            note=reason,
        )
    return after


def _stale(release: Release, expected: int) -> Conflict:
    return Conflict(
        f"release {release.id} on {release.endpoint} changed since version {expected}: "
        "look at `modelward rollout status` and try again",
        release=release.id,
        expected_version=expected,
    )


def advance(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    expected_version: int | None = None,
    evidence: Mapping[str, Any] | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Release:
    """Move the release to its next step (canary: the next weight; blue-green: green live)."""
    return _change(
        session,
        principal,
        endpoint,
        "advance",
        allowed=LIVE_STATES,
        expected_version=expected_version,
        values={"state": "running"},
        evidence=evidence,
        reason=reason,
        now=now,
        step_change=1,
    )


def pause(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    expected_version: int | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Release:
    """Hold the current weights; the controller leaves a paused release alone."""
    return _change(
        session,
        principal,
        endpoint,
        "pause",
        allowed=frozenset({"running"}),
        expected_version=expected_version,
        values={"state": "paused"},
        reason=reason,
        now=now,
    )


def resume(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    expected_version: int | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Release:
    return _change(
        session,
        principal,
        endpoint,
        "resume",
        allowed=frozenset({"paused"}),
        expected_version=expected_version,
        values={"state": "running"},
        reason=reason,
        now=now,
    )


def promote(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    expected_version: int | None = None,
    evidence: Mapping[str, Any] | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Release:
    """The candidate answers everything; the release is finished."""
    return _change(
        session,
        principal,
        endpoint,
        "promote",
        allowed=LIVE_STATES,
        expected_version=expected_version,
        values={"state": "promoted", "active_endpoint": None},
        evidence=evidence,
        reason=reason,
        now=now,
    )


def abort(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    expected_version: int | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Release:
    """Stop the release: the baseline answers everything again."""
    return _change(
        session,
        principal,
        endpoint,
        "abort",
        allowed=LIVE_STATES,
        expected_version=expected_version,
        values={"state": "aborted", "active_endpoint": None},
        reason=reason,
        now=now,
    )


def rollback(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    expected_version: int | None = None,
    evidence: Mapping[str, Any] | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Release:
    """Put the baseline back on all traffic: of a live release, or of the newest promoted
    one (blue-green's "blue back")."""
    return _change(
        session,
        principal,
        endpoint,
        "rollback",
        allowed=LIVE_STATES | {"promoted"},
        expected_version=expected_version,
        values={"state": "rolled_back", "active_endpoint": None},
        evidence=evidence,
        reason=reason,
        now=now,
    )


def fail(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    release_id: str,
    error: str,
    now: datetime | None = None,
) -> Release:
    """End a live release whose candidate could not be loaded (or warmed up): the gateway
    reports it before any traffic moved, and the baseline keeps answering everything.

    ``release_id`` names the release the failure is about, so a report that arrives late
    (from a second gateway worker, say) never ends a newer release: it is a conflict."""
    return _change(
        session,
        principal,
        endpoint,
        "fail",
        allowed=LIVE_STATES,
        expected_version=None,
        values={"state": "failed", "active_endpoint": None},
        evidence={"load_error": error[:_ERROR_CHARS]},
        reason="the candidate could not be loaded",
        now=now,
        release_id=release_id,
    )


def record_smoke(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    release_id: str,
    evidence: Mapping[str, Any],
    now: datetime | None = None,
) -> Release:
    """Keep a failed blue-green smoke test on the release (``last_analysis``) and in the
    audit log (``release.smoke``): no switch happened, blue still answers everything."""
    return _change(
        session,
        principal,
        endpoint,
        "smoke",
        allowed=LIVE_STATES,
        expected_version=None,
        values={"last_analysis": dict(evidence)},
        evidence=evidence,
        reason="smoke test failed: no switch",
        now=now,
        release_id=release_id,
    )

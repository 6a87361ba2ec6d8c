"""Changes to releases: start, advance, pause, resume, promote, abort, rollback, fail,
and a failed smoke test's record (the state machine is drawn in
:mod:`modelward.rollout.releases`).

Every change is one transaction with its audit entry (target ``endpoint:<name>``, the
evidence in the payload), made as ``UPDATE ... WHERE version = <read>``: of two operators
acting at once one wins, the other gets :class:`~modelward.errors.Conflict` and nothing of
theirs is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from modelward import security
from modelward.errors import CheckFailed, Conflict, InputError, NotFound
from modelward.rollout.plans import Strategy, parse_strategy
from modelward.rollout.policy import RolloutPolicy
from modelward.rollout.releases import LIVE_STATES, Release, _current_in, _now
from modelward.rollout.tables import releases
from modelward.security import Permission, Principal

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "abort",
    "advance",
    "fail",
    "pause",
    "promote",
    "record_smoke",
    "resume",
    "rollback",
    "start_release",
]

#: the longest load error kept as a failed release's evidence
_ERROR_CHARS = 2_000


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

"""The controller: looks at every live release each interval and advances, holds or rolls back.

Several controllers may run (one per gateway host, say); a lease in the release's row
means exactly one drives a release at a time. A controller takes a lease with one
``UPDATE ... WHERE lease_owner IS NULL OR lease_owner = me OR lease_until < now``, so of
two that try at once the database lets one through; a controller that dies stops renewing
and another takes over when the lease runs out. Every decision is also made on the
release version the analysis read, so a decision on a release an operator changed in the
meantime is refused rather than applied.

The analysis of a step reads the step's window (since it started) from the prediction
log; a ``fail`` rolls back at once, a ``pass`` advances once the step has lasted an
interval (after the last step: promotes), an ``inconclusive`` holds until the policy's
deadline and then does what ``on_deadline`` says. Blue-green releases are driven by an
operator (the switch is a decision, not a measurement); shadow releases are rolled back
on a fail and otherwise left for an operator to promote.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import or_, update

from modelward import security
from modelward.errors import Conflict
from modelward.monitoring import PredictionSink
from modelward.rollout import changes
from modelward.rollout import releases as rel
from modelward.rollout.analysis import Analysis, judge, window_samples
from modelward.rollout.plans import Strategy
from modelward.rollout.tables import releases
from modelward.security import Principal, Role

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["Controller", "ControllerThread", "Decision", "analyse"]

_log = logging.getLogger("modelward.rollout")

Action = Literal["advance", "promote", "rollback", "hold", "wait", "skip"]


@dataclass(frozen=True)
class Decision:
    release: str
    endpoint: str
    action: Action
    reason: str
    analysis: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "endpoint": self.endpoint,
            "action": self.action,
            "reason": self.reason,
            "analysis": self.analysis,
        }


def _us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def analyse(release: rel.Release, sink: PredictionSink, now: datetime) -> Analysis:
    """The judge's verdict on the release's current step window, from the prediction log.

    Reads only the step's window (monitoring's windowed read: the sink filters by arrival
    time in its own engine) and keeps this release's rows.
    """
    window = sink.read_window(
        release.endpoint, start_us=_us(release.step_started_at), end_us=_us(now) + 1
    )
    baseline, candidate = window_samples(
        window,
        release.id,
        candidate_role=release.candidate_role,
        segments=release.policy.segment_fields,
    )
    return judge(baseline, candidate, release.policy)


class Controller:
    """Drives live releases. ``tick()`` is one pass (tests call it with a ``now``);
    :meth:`run` ticks every ``interval_s`` until ``stop`` is set."""

    def __init__(
        self,
        session: Session,
        sink: PredictionSink,
        *,
        owner: str,
        lease_s: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.session = session
        self.sink = sink
        self.owner = owner
        self.lease = timedelta(seconds=lease_s)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.principal = Principal(f"rollout-controller:{owner}", Role.OPERATOR, kind="service")

    # -- the lease ------------------------------------------------------------------------

    def acquire(self, release_id: str, now: datetime) -> bool:
        """Take or renew the lease on a release; False when another controller holds it."""
        with self.session.store.transaction() as conn:
            done = conn.execute(
                update(releases)
                .where(
                    releases.c.id == release_id,
                    releases.c.state.in_(sorted(rel.LIVE_STATES)),
                    or_(
                        releases.c.lease_owner.is_(None),
                        releases.c.lease_owner == self.owner,
                        releases.c.lease_until < now,
                    ),
                )
                .values(lease_owner=self.owner, lease_until=now + self.lease)
            )
            return done.rowcount == 1

    def release_leases(self) -> None:
        """Give up every lease this controller holds (on a clean stop)."""
        with self.session.store.transaction() as conn:
            conn.execute(
                update(releases)
                .where(releases.c.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    # -- one pass ---------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> list[Decision]:
        """Evaluate every live release this controller can lease; return what it did."""
        at = now or self.clock()
        decisions = []
        for release in rel.list_releases(self.session, live_only=True):
            if not self.acquire(release.id, at):
                decisions.append(
                    Decision(release.id, release.endpoint, "skip", "another controller drives it")
                )
                continue
            decisions.append(self._drive(release, at))
        return decisions

    def _drive(self, release: rel.Release, now: datetime) -> Decision:
        def decided(action: Action, reason: str, analysis: Analysis | None = None) -> Decision:
            return Decision(
                release.id,
                release.endpoint,
                action,
                reason,
                analysis.to_dict() if analysis else None,
            )

        if release.state != "running":
            return decided("wait", f"release is {release.state}")
        if release.strategy is Strategy.BLUE_GREEN:
            return decided("wait", "blue-green releases switch when an operator says so")
        analysis = analyse(release, self.sink, now)
        evidence = {"analysis": analysis.to_dict(), "controller": self.owner}
        policy = release.policy
        step_age = (now - release.step_started_at).total_seconds()
        try:
            if analysis.verdict == "fail":
                failed = [m.metric for m in analysis.metrics if m.verdict == "fail"]
                reason = f"analysis failed on {', '.join(failed)}"
                self._act(changes.rollback, release, evidence, reason, now)
                return decided("rollback", reason, analysis)
            if analysis.verdict == "pass":
                if release.strategy is Strategy.SHADOW:
                    self._note(release, analysis, held_since=None)
                    return decided("wait", "shadow passes; an operator promotes it", analysis)
                if step_age < policy.interval_s:
                    self._note(release, analysis, held_since=None)
                    return decided("wait", "passing; the step lasts one interval", analysis)
                if release.step >= release.last_step:
                    self._act(changes.promote, release, evidence, "every step passed", now)
                    return decided("promote", "every step passed", analysis)
                self._act(changes.advance, release, evidence, f"step {release.step} passed", now)
                return decided("advance", f"step {release.step} passed", analysis)
            held_since = release.held_since or now
            if (now - held_since).total_seconds() < policy.inconclusive_deadline_s:
                self._note(release, analysis, held_since=held_since)
                return decided("hold", "inconclusive: holding the step", analysis)
            reason = f"inconclusive past the {policy.inconclusive_deadline_s:g}s deadline"
            if policy.on_deadline == "rollback":
                self._act(changes.rollback, release, evidence, reason, now)
                return decided("rollback", reason, analysis)
            if policy.on_deadline == "advance" and release.strategy is Strategy.CANARY:
                if release.step >= release.last_step:
                    self._act(changes.promote, release, evidence, reason, now)
                    return decided("promote", reason, analysis)
                self._act(changes.advance, release, evidence, reason, now)
                return decided("advance", reason, analysis)
            self._note(release, analysis, held_since=held_since)
            return decided("hold", reason + "; the policy holds", analysis)
        except Conflict as exc:  # an operator acted first: their change stands
            return decided("skip", exc.message)

    def _act(
        self,
        change: Callable[..., rel.Release],
        release: rel.Release,
        evidence: dict[str, Any],
        reason: str,
        now: datetime,
    ) -> None:
        change(
            self.session,
            self.principal,
            release.endpoint,
            expected_version=release.version,
            evidence=evidence,
            reason=reason,
            now=now,
        )

    def _note(
        self, release: rel.Release, analysis: Analysis, *, held_since: datetime | None
    ) -> None:
        """Keep the latest analysis on the release (no version bump: not a state change);
        the first hold of a step is audited."""
        with self.session.store.transaction() as conn:
            done = conn.execute(
                update(releases)
                .where(releases.c.id == release.id, releases.c.version == release.version)
                .values(last_analysis=analysis.to_dict(), held_since=held_since)
            )
            if done.rowcount == 1 and held_since is not None and release.held_since is None:
                security.record(
                    conn,
                    actor=self.principal.name,
                    action="release.hold",
                    target=f"endpoint:{release.endpoint}",
                    payload={"release": release.id, "step": release.step, **analysis.to_dict()},
                )

    def run(
        self,
        stop: threading.Event,
        interval_s: float,
        on_tick: Callable[[list[Decision]], None] | None = None,
    ) -> None:
        """Tick every ``interval_s`` until ``stop`` is set; leases are given up at the end.

        A pass that fails (the database or the prediction log is unreachable) is logged and
        the next one tries again: the controller resumes when they are back, and the gateway
        keeps serving the last plan meanwhile."""
        try:
            while not stop.is_set():
                try:
                    decisions = self.tick()
                except Exception as exc:
                    _log.warning("rollout controller %s: pass failed: %s", self.owner, exc)
                else:
                    if on_tick is not None:
                        on_tick(decisions)
                stop.wait(interval_s)
        finally:
            try:
                self.release_leases()
            except Exception as exc:  # they run out by themselves
                _log.warning("rollout controller %s: leases not released: %s", self.owner, exc)


class ControllerThread:
    """A controller ticking on its own thread, as ``modelward server`` runs it
    (``[rollout] controller = true``): :meth:`start`, and :meth:`stop` at shutdown, which
    waits for the pass under way and gives the leases up, so another server takes over at
    once rather than when the leases run out.

    >>> runner = ControllerThread.for_workspace(session)  # doctest: +SKIP
    >>> runner.start(); ...; runner.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        controller: Controller,
        interval_s: float,
        *,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.controller = controller
        self.interval_s = interval_s
        #: the decisions of the last pass that could be made, and how many passes so far
        self.decisions: list[Decision] = []
        self.passes = 0
        self._on_stop = on_stop
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=controller.run,
            args=(self._stop, interval_s, self._seen),
            name=f"rollout-controller:{controller.owner}",
            daemon=True,
        )

    @classmethod
    def for_workspace(cls, session: Session, owner: str | None = None) -> ControllerThread:
        """A controller over the workspace's releases and prediction log, with the
        ``[rollout]`` interval and lease; named ``host:pid:<random>`` unless ``owner`` is
        given (two controllers in one process must never share a lease)."""
        from modelward.monitoring import open_prediction_sink

        settings = session.workspace.settings
        interval = settings.rollout.interval_s
        sink = open_prediction_sink(settings.serving.prediction_log, session.workspace.root)
        controller = Controller(
            session,
            sink,
            owner=owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
            lease_s=settings.rollout.lease_s or 3 * interval,
        )
        return cls(controller, interval, on_stop=sink.close)

    def _seen(self, decisions: list[Decision]) -> None:
        self.decisions = decisions
        self.passes += 1
        for d in decisions:
            if d.action not in ("wait", "skip", "hold"):
                _log.info("release %s on %s: %s (%s)", d.release, d.endpoint, d.action, d.reason)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()
        _log.info(
            "rollout controller %s drives live releases every %gs",
            self.controller.owner,
            self.interval_s,
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the pass under way (if any) and give the leases up; idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout_s)
        if self._on_stop is not None:
            self._on_stop()

"""Releases on the gateway: which runtime answers a request, and shadow copies off the path.

The config refresh builds a :class:`Routing` for every endpoint a release splits (a
canary, a blue-green pair, a shadow): the traffic plan (rollout's pure decision) and the
candidate's own warm runtime, loaded before the plan is swapped in. Per request the
gateway asks :meth:`Routing.route` (one hash of the sticky key; ~1 us) and scores with the
runtime it names; the baseline's runtime is the endpoint's usual one.

A shadow copy is scored after the answer has been sent, by :class:`ShadowScorer`, on its
own thread and in batches: the event loop only queues it. At most ``capacity`` copies are
in flight, and a copy offered beyond that is dropped and counted, so a slow or hung
candidate can never hold more than that, and the primary's answer and latency never wait
for it. Its result (or its error) goes to the prediction log with role ``shadow``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter

from modelward.errors import Conflict, InputError, RequestInvalid
from modelward.monitoring import PredictionRecord, refusal_error
from modelward.rollout import Route, TrafficPlan
from modelward.security import Permission, Principal
from modelward.serving.runtime import EndpointRuntime, Job, Scored

__all__ = [
    "ARM_HEADER",
    "SHADOW_BULK",
    "SHADOW_CAPACITY",
    "SHADOW_LINGER_S",
    "Routing",
    "ShadowScorer",
    "failure_records",
    "rejection_records",
    "smoke_route",
]

_log = logging.getLogger("modelward.serving")

#: shadow copies in flight per gateway process at most
SHADOW_CAPACITY = 256
#: seconds the first copy of a batch waits for others to share its model call (at most
#: half its latency budget): off the answer path such a wait costs no caller anything,
#: and fewer, larger candidate calls take the GIL from the primary's loop less often
SHADOW_LINGER_S = 0.02
#: copies waiting that start a call at once, without lingering
SHADOW_BULK = 64
#: a request header that makes the release's candidate answer, whatever the plan says:
#: blue-green's smoke test asks green before the switch (operators only)
ARM_HEADER = "x-modelward-arm"


@dataclass(frozen=True)
class Routing:
    plan: TrafficPlan
    #: the candidate's warm runtime (same endpoint definition, the candidate's model)
    candidate: EndpointRuntime
    #: the request field keying the sticky hash when the plan names none
    entity_key: str | None = None

    def route(self, row: Mapping[str, Any], request_id: str) -> Route:
        return self.plan.route(self.plan.sticky_key(row, request_id, self.entity_key))

    @property
    def candidate_version(self) -> str:
        return self.candidate.model.version


def smoke_route(routing: Routing | None, arm: str, principal: Principal, endpoint: str) -> Route:
    """The route of a request sent with :data:`ARM_HEADER`: the candidate answers, and its
    log rows carry role ``smoke`` (the judge counts only primary, candidate and shadow)."""
    principal.require(Permission.RELEASES_OPERATE)
    if arm != "candidate":
        raise InputError(
            f"{ARM_HEADER}: {arm[:40]!r} is not an arm; use candidate", field=ARM_HEADER
        )
    if routing is None or routing.plan.candidate is None:
        raise Conflict(
            f"no release with a loaded candidate splits endpoint {endpoint[:60]!r} here",
            endpoint=endpoint[:60],
        )
    return Route(routing.plan.candidate, "smoke", None, routing.plan.release_id)


Log = Callable[[PredictionRecord], object]


def failure_records(
    runtime: EndpointRuntime,
    request_id: str,
    rows: list[dict[str, Any]],
    latency_ms: float,
    route: Route,
    error: str,
) -> list[PredictionRecord]:
    """The log rows of a release's arm that could not answer at all (no fallback either):
    the judge counts them in the arm's error rate."""
    spec = runtime.spec
    at_us = time.time_ns() // 1000
    many = len(rows) > 1
    pii = spec.pii_fields
    return [
        PredictionRecord(
            f"{request_id}/{i}" if many else request_id,
            at_us,
            spec.name,
            runtime.model.name,
            runtime.model.version,
            {**row, **dict.fromkeys(pii, "[redacted]")} if pii else row,
            None,
            latency_ms,
            True,
            role=route.role,
            release_id=route.release_id,
            error=error,
        )
        for i, row in enumerate(rows)
    ]


def rejection_records(
    runtime: EndpointRuntime,
    routing: Routing | None,
    body: bytes,
    request_id: str,
    latency_ms: float,
    exc: RequestInvalid,
) -> list[PredictionRecord]:
    """The log rows of a request validation refused (a 422): one per version it would
    have reached, role ``rejected``, no prediction, and the broken
    rules as the error, so the staging gate sees what never reached a model. Its inputs
    are the first row's fields that met their rule (None for the others), redacted.

    Under a release the version is the one the plan routes the request to (its sticky
    field read from the body as sent, if it is there), and a shadow's candidate is
    charged too: it would have scored the copy."""
    versions = [runtime]
    release_id = ""
    first = _first_row(body)
    if routing is not None:
        route = routing.route(first, request_id)
        release_id = route.release_id
        if route.role == "candidate":
            versions = [routing.candidate]
        if route.shadow is not None:
            versions.append(routing.candidate)
    error = refusal_error(exc.details.get("errors", ()))
    at_us = time.time_ns() // 1000
    # the fields that met their rule, the others None: typed like the answered rows
    # (so the log's columns keep their kinds) and never empty (a log needs one column)
    inputs = runtime.schema.accepted_fields(first)
    pii = runtime.pii_fields or runtime.spec.pii_fields
    if pii:
        inputs = {**inputs, **dict.fromkeys([f for f in pii if f in inputs], "[redacted]")}
    return [
        PredictionRecord(
            request_id,
            at_us,
            r.spec.name,
            r.model.name,
            r.model.version,
            inputs,
            None,
            latency_ms,
            False,
            role="rejected",
            release_id=release_id,
            error=error,
        )
        for r in versions
    ]


def _first_row(body: bytes) -> Mapping[str, Any]:
    """The first row of a native body as sent, for its sticky field ({} when none)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    inputs = data.get("inputs") if isinstance(data, dict) else None
    if isinstance(inputs, list):
        inputs = inputs[0] if inputs else None
    return inputs if isinstance(inputs, dict) else {}


class ShadowScorer:
    """Scores shadow copies on its own thread, in batches, bounded; drops and counts.

    The event loop's part of a copy is one append to a bounded queue: the copy's task, its
    future, the candidate's answer and its log rows are all built on the scoring thread,
    so at 100 % mirroring the primary's loop does no more work per request than without a
    shadow. The thread lingers up to ``linger_s`` after a first copy (or until
    :data:`SHADOW_BULK` wait), then takes every copy waiting and scores them with one call per
    candidate (:meth:`EndpointRuntime.score`, as the candidate's batcher would), so its
    CPU per copy falls as the queue fills; NumPy and scikit-learn let go of the GIL in much
    of a model call. A copy that waited past the endpoint's latency budget is counted
    failed, not scored late; a hung candidate holds the thread, the queue fills, and
    every copy beyond ``capacity`` (queued or being scored) is dropped and counted.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        capacity: int = SHADOW_CAPACITY,
        linger_s: float = SHADOW_LINGER_S,
    ) -> None:
        self.capacity = capacity
        self.linger_s = linger_s
        self._queue: deque[_Copy] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._scoring = 0
        self._closing = False
        self._thread: threading.Thread | None = None
        self.counts = Counter(
            "modelward_gateway_shadow",
            "Shadow copies by outcome: scored, failed, dropped (over capacity).",
            ["endpoint", "outcome"],
            registry=registry,
        )

    @property
    def in_flight(self) -> int:
        """Copies queued or being scored."""
        return len(self._queue) + self._scoring

    def offer(
        self,
        candidate: EndpointRuntime,
        rows: list[dict[str, Any]],
        request_id: str,
        release_id: str,
        log: Log,
    ) -> bool:
        """Score a copy of ``rows`` with ``candidate`` later; False when it was dropped."""
        deadline = time.monotonic() + candidate.spec.latency_budget_ms / 1000.0
        copy = _Copy(candidate, rows, request_id, release_id, log, deadline, time.time_ns())
        with self._ready:
            if self._closing or len(self._queue) + self._scoring >= self.capacity:
                full = True
            else:
                full = False
                queue = self._queue
                queue.append(copy)
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="shadow-scorer", daemon=True
                    )
                    self._thread.start()
                # wake the thread for a first copy or a full bulk only: while it lingers
                # or scores, a copy is one append (no wake-up, no hand-over of the GIL)
                if len(queue) == 1 or len(queue) >= SHADOW_BULK:
                    self._ready.notify()
        if full:
            self.counts.labels(candidate.spec.name, "dropped").inc()
        return not full

    def _run(self) -> None:
        queue = self._queue
        while True:
            with self._ready:
                while not queue and not self._closing:
                    self._ready.wait()
                if not queue:
                    return
                now = time.monotonic()
                until = min(now + self.linger_s, (now + queue[0].deadline) / 2)
                while not self._closing and len(queue) < SHADOW_BULK:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._ready.wait(left)
                batch = list(queue)
                queue.clear()
                self._scoring = len(batch)
            try:
                by_candidate: dict[int, list[_Copy]] = {}
                for copy in batch:
                    by_candidate.setdefault(id(copy.candidate), []).append(copy)
                for copies in by_candidate.values():
                    _score_copies(copies, self.counts)
            finally:
                with self._ready:
                    self._scoring = 0

    async def close(self, timeout_s: float = 10.0) -> None:
        """Score the copies queued, then stop the thread (a hung candidate: after
        ``timeout_s``, its copies are abandoned with the daemon thread)."""
        with self._ready:
            self._closing = True
            thread, self._thread = self._thread, None
            self._ready.notify()
        if thread is not None:
            await asyncio.to_thread(thread.join, timeout_s)
        with self._ready:
            self._closing = False  # a restarted gateway mirrors again


@dataclass(frozen=True, slots=True)
class _Copy:
    candidate: EndpointRuntime
    rows: list[dict[str, Any]]
    request_id: str
    release_id: str
    log: Log
    deadline: float
    at_ns: int


def _score_copies(copies: list[_Copy], counts: Counter) -> None:
    """One scoring call for ``copies`` of one candidate, on the shadow thread; each copy's
    rows (or its error) go to the log with role ``shadow``."""
    candidate = copies[0].candidate
    spec, model = candidate.spec, candidate.model
    started = time.perf_counter()
    try:
        results: list[Any] = candidate.score(model, [Job(c.rows, c.deadline) for c in copies])
    except Exception as exc:  # a crashing candidate: counted, never raised
        results = [exc] * len(copies)
    # the candidate's time for the batch the copy was scored in
    latency_ms = (time.perf_counter() - started) * 1000.0
    pii = spec.pii_fields
    failed = 0
    for copy, result in zip(copies, results, strict=True):
        scored = result if isinstance(result, Scored) else None
        error = "" if scored is not None else type(result).__name__
        failed += bool(error)
        rows = copy.rows
        inputs = scored.inputs if scored is not None else rows
        predictions = scored.predictions if scored is not None else [None] * len(rows)
        many = len(rows) > 1
        at_us = copy.at_ns // 1000
        for i, (row, prediction) in enumerate(zip(inputs, predictions, strict=True)):
            if pii:
                row = {**row, **dict.fromkeys(pii, "[redacted]")}
            copy.log(
                PredictionRecord(
                    f"{copy.request_id}/{i}" if many else copy.request_id,
                    at_us,
                    spec.name,
                    model.name,
                    model.version,
                    row,
                    prediction,
                    latency_ms,
                    bool(error),
                    role="shadow",
                    release_id=copy.release_id,
                    error=error,
                )
            )
    if failed:
        counts.labels(spec.name, "failed").inc(failed)
    if len(copies) > failed:
        counts.labels(spec.name, "scored").inc(len(copies) - failed)

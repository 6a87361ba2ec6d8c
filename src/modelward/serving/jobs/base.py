"""The job queue port: what every backend of asynchronous inference provides.

A job is submitted once (the caller's idempotency key makes a retry return the same job),
taken by one worker at a time under a lease (the visibility timeout), and either completed
with its result or failed. A failed job is retried after a backoff that doubles each time,
until ``max_attempts`` deliveries, then it goes to the dead-letter list with its error. A
lease that runs out (the worker died holding it) makes the job deliverable again, and that
delivery counts as an attempt, so a job that kills every worker ends as a dead letter too.
Finished jobs (results and dead letters) expire ``result_ttl_s`` after they finish.

Backends: :mod:`~modelward.serving.jobs.sql` (a table in the metadata store; the default)
and :mod:`~modelward.serving.jobs.redis` (Redis Streams with consumer groups). They are
chosen by ``[serving.jobs] queue`` (``"sqlite"`` or a ``redis://`` URL) and pass one
shared test suite (``tests/integration/backends/test_job_queue.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from modelward.errors import InputError
from modelward.plugins import PluginFamily

if TYPE_CHECKING:
    from modelward.config import JobsSettings
    from modelward.session import Session

__all__ = [
    "JOB_QUEUES",
    "Job",
    "JobQueue",
    "JobStatus",
    "Lease",
    "backoff_s",
    "new_job_id",
    "open_job_queue",
    "queue_type",
]

JobStatus = Literal["queued", "running", "succeeded", "failed"]
#: statuses a job no longer leaves (it waits for its expiry)
FINISHED: frozenset[str] = frozenset({"succeeded", "failed"})

JOB_QUEUES = PluginFamily(
    kind="job queue",
    setting="serving.jobs.queue",
    group="modelward.job_queues",
    builtins={
        "sqlite": "modelward.serving.jobs.sql:SqlJobQueue",
        "redis": "modelward.serving.jobs.redis:RedisJobQueue",
    },
)


@dataclass(frozen=True)
class Job:
    """One job as the queue holds it; times are epoch seconds."""

    id: str
    endpoint: str
    status: JobStatus
    #: ``{"inputs": [...], "batch": bool}`` (request rows) or ``{"input_path": "..."}``
    payload: dict[str, Any]
    attempts: int
    created_at: float
    callback_url: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    finished_at: float | None = None
    #: the result callback: ``pending``, ``delivered`` or ``failed: <why>``; None: none asked
    callback_state: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The job as ``GET .../jobs/{id}`` answers it (the inputs are not echoed back)."""
        body: dict[str, Any] = {
            "job_id": self.id,
            "endpoint": self.endpoint,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }
        if self.result is not None:
            body["result"] = self.result
        if self.error is not None:
            body["error"] = self.error
        if self.callback_state is not None:
            body["callback"] = self.callback_state
        return body


@dataclass(frozen=True)
class Lease:
    """One delivery of a job to a worker; ``token`` tells this delivery from a later one."""

    job: Job
    token: str


@runtime_checkable
class JobQueue(Protocol):
    """What every job queue backend provides. Methods block; callers on an event loop run
    them on a thread. An unreachable backend raises :class:`~modelward.errors.StoreUnavailable`
    naming it (its URL redacted)."""

    @property
    def label(self) -> str:
        """Where the queue is, for messages; never holds a password."""
        ...

    def submit(
        self,
        endpoint: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
    ) -> tuple[Job, bool]:
        """Queue a job, or find the one submitted before with ``idempotency_key`` (the key
        is the caller's, per endpoint, until the job expires); returns it and whether it is
        new. Atomic: two concurrent submits with one key make one job."""
        ...

    def get(self, endpoint: str, job_id: str) -> Job | None:
        """The job, or None when there is none (never submitted, or expired)."""
        ...

    def take(self, endpoint: str, consumer: str, *, count: int, wait_s: float) -> list[Lease]:
        """Up to ``count`` deliverable jobs of ``endpoint`` (queued and due, or held under a
        lease that ran out), each leased to ``consumer`` for the visibility timeout. Waits
        up to ``wait_s`` for one when none is deliverable. A job delivered ``max_attempts``
        times already is dead-lettered here instead of being handed out again."""
        ...

    def complete(self, lease: Lease, result: dict[str, Any]) -> bool:
        """Record the result: the job succeeded, and expires ``result_ttl_s`` from now.
        False when the job had already finished (another delivery's result stands)."""
        ...

    def complete_many(self, done: Sequence[tuple[Lease, dict[str, Any]]]) -> list[bool]:
        """:meth:`complete` for many jobs in one round trip (one transaction, one pipeline)."""
        ...

    def fail(self, lease: Lease, error: str, *, retry: bool = True) -> JobStatus:
        """The delivery failed with ``error``. Queued again after the backoff while
        ``retry`` and attempts remain (``"queued"``), else dead-lettered (``"failed"``).
        A stale lease (the job was delivered again since) changes nothing."""
        ...

    def dead_letters(self, endpoint: str, limit: int = 100) -> list[Job]:
        """Dead-lettered jobs of ``endpoint``, newest first, with their errors."""
        ...

    def record_callback(self, endpoint: str, job_id: str, state: str) -> None:
        """Note what became of the job's result callback (``delivered``, ``failed: ...``)."""
        ...

    def purge_expired(self) -> int:
        """Forget finished jobs past their expiry; how many. (Redis expires them itself.)"""
        ...

    def close(self) -> None:
        """Release connections; the queue is not used afterwards."""
        ...


def new_job_id() -> str:
    return uuid.uuid4().hex


def backoff_s(base_s: float, attempts: int) -> float:
    """Seconds before the retry that follows delivery number ``attempts`` (1, 2, ...)."""
    return base_s * 2.0 ** max(attempts - 1, 0)


def queue_type(queue: str) -> str:
    """The backend type a ``[serving.jobs] queue`` / ``--queue`` value names."""
    if queue in ("sqlite", "store", "sql"):
        return "sqlite"
    scheme = queue.partition("://")[0]
    if scheme in ("redis", "rediss", "unix"):
        return "redis"
    if "://" not in queue:
        return queue  # a plugged-in type by name; unknown ones are refused by the family
    raise InputError(
        f"serving.jobs.queue: {scheme!r} is not a job queue; use 'sqlite' (the metadata "
        "store) or a redis:// URL",
        field="serving.jobs.queue",
    )


def open_job_queue(
    session: Session, queue: str | None = None, settings: JobsSettings | None = None
) -> JobQueue:
    """The job queue ``queue`` names (default: ``[serving.jobs] queue``) for ``session``."""
    jobs = settings or session.workspace.settings.serving.jobs
    target = queue or jobs.queue
    cls = JOB_QUEUES.load(queue_type(target))
    opened: JobQueue = cls.open(target, session, jobs)
    return opened

"""The embedded job queue: the ``serving_jobs`` table of the metadata store.

The default backend: no server beyond the metadata database (a SQLite file, or Postgres
for a team). A take is one write transaction: it selects the deliverable jobs and leases
each with a conditional update (SQLite serialises write transactions; Postgres skips rows
another worker has locked), so two workers never hold one lease. An idle worker looks
again every ``poll_interval_s``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from modelward.serving.jobs.base import FINISHED, Job, JobStatus, Lease, backoff_s, new_job_id
from modelward.serving.tables import serving_jobs

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

    from modelward.config import JobsSettings
    from modelward.session import Session
    from modelward.store import Store

__all__ = ["SqlJobQueue"]

_t = serving_jobs


def _job(row: Row[Any]) -> Job:
    return Job(
        id=row.id,
        endpoint=row.endpoint,
        status=row.status,
        payload=row.payload,
        attempts=row.attempts,
        created_at=row.created_at,
        callback_url=row.callback_url,
        result=row.result,
        error=row.error,
        finished_at=row.finished_at,
        callback_state=row.callback_state,
    )


class SqlJobQueue:
    """Jobs in the metadata store's ``serving_jobs`` table."""

    def __init__(
        self, store: Store, settings: JobsSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._settings = settings
        self._now = clock
        self._closed = threading.Event()

    @classmethod
    def open(cls, target: str, session: Session, settings: JobsSettings) -> SqlJobQueue:
        return cls(session.store, settings)

    @property
    def label(self) -> str:
        return f"metadata store ({self._store.display_url})"

    def _deliverable(self, endpoint: str, now: float) -> Any:
        return and_(
            _t.c.endpoint == endpoint,
            or_(
                and_(_t.c.status == "queued", _t.c.available_at <= now),
                and_(_t.c.status == "running", _t.c.lease_until < now),
            ),
        )

    def submit(
        self,
        endpoint: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
    ) -> tuple[Job, bool]:
        for _ in range(2):  # a concurrent submit with the key may win the insert: read it
            try:
                return self._submit(endpoint, payload, idempotency_key, callback_url)
            except IntegrityError:
                if idempotency_key is None:
                    raise
        return self._submit(endpoint, payload, idempotency_key, callback_url)

    def _submit(
        self,
        endpoint: str,
        payload: dict[str, Any],
        key: str | None,
        callback_url: str | None,
    ) -> tuple[Job, bool]:
        now = self._now()
        with self._store.transaction() as conn:
            if key is not None:
                found = conn.execute(
                    select(_t).where(_t.c.endpoint == endpoint, _t.c.idempotency_key == key)
                ).first()
                if found is not None:
                    if found.expires_at is None or found.expires_at > now:
                        return _job(found), False
                    conn.execute(delete(_t).where(_t.c.id == found.id))  # expired: forgotten
            values = {
                "id": new_job_id(),
                "endpoint": endpoint,
                "idempotency_key": key,
                "status": "queued",
                "payload": payload,
                "callback_url": callback_url,
                "attempts": 0,
                "available_at": now,
                "created_at": now,
                "callback_state": "pending" if callback_url else None,
            }
            conn.execute(insert(_t).values(**values))
            row = conn.execute(select(_t).where(_t.c.id == values["id"])).one()
            return _job(row), True

    def get(self, endpoint: str, job_id: str) -> Job | None:
        with self._store.read() as conn:
            row = conn.execute(
                select(_t).where(_t.c.id == job_id, _t.c.endpoint == endpoint)
            ).first()
        if row is None or (row.expires_at is not None and row.expires_at <= self._now()):
            return None
        return _job(row)

    def take(self, endpoint: str, consumer: str, *, count: int, wait_s: float) -> list[Lease]:
        deadline = time.monotonic() + wait_s
        while True:
            leases = self._take(endpoint, consumer, count)
            left = deadline - time.monotonic()
            if leases or left <= 0 or self._closed.is_set():
                return leases
            self._closed.wait(min(self._settings.poll_interval_s, left))

    def _take(self, endpoint: str, consumer: str, count: int) -> list[Lease]:
        settings = self._settings
        now = self._now()
        leases: list[Lease] = []
        with self._store.read() as conn:
            # an idle queue is looked at with a read: no write lock taken on every poll
            ready = conn.execute(
                select(_t.c.id).where(self._deliverable(endpoint, now)).limit(1)
            ).first()
        if ready is None:
            return leases
        with self._store.transaction() as conn:
            query = (
                select(_t)
                .where(self._deliverable(endpoint, now))
                .order_by(_t.c.available_at)
                .limit(count)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            for row in conn.execute(query).all():
                if row.attempts >= settings.max_attempts:  # lost by a worker every time
                    self._dead(
                        conn,
                        row.id,
                        f"delivered {row.attempts} times and never finished: the worker "
                        f"holding it was lost each time (last: {row.lease_owner})",
                        now,
                    )
                    continue
                token = uuid.uuid4().hex
                taken = conn.execute(
                    update(_t)
                    .where(_t.c.id == row.id, self._deliverable(endpoint, now))
                    .values(
                        status="running",
                        attempts=row.attempts + 1,
                        lease_token=token,
                        lease_owner=consumer[:200],
                        lease_until=now + settings.visibility_timeout_s,
                    )
                )
                if taken.rowcount == 1:
                    job = replace(_job(row), status="running", attempts=row.attempts + 1)
                    leases.append(Lease(job, token))
        return leases

    def _dead(self, conn: Connection, job_id: str, error: str, now: float) -> None:
        conn.execute(
            update(_t)
            .where(_t.c.id == job_id)
            .values(
                status="failed",
                error=error[:4000],
                lease_token=None,
                lease_until=None,
                finished_at=now,
                expires_at=now + self._settings.result_ttl_s,
            )
        )

    def complete(self, lease: Lease, result: dict[str, Any]) -> bool:
        return self.complete_many([(lease, result)])[0]

    def complete_many(self, done: Sequence[tuple[Lease, dict[str, Any]]]) -> list[bool]:
        now = self._now()
        kept = []
        with self._store.transaction() as conn:
            for lease, result in done:
                changed = conn.execute(
                    update(_t)
                    .where(_t.c.id == lease.job.id, _t.c.status.not_in(sorted(FINISHED)))
                    .values(
                        status="succeeded",
                        result=result,
                        error=None,
                        lease_token=None,
                        lease_until=None,
                        finished_at=now,
                        expires_at=now + self._settings.result_ttl_s,
                    )
                )
                kept.append(changed.rowcount == 1)
        return kept

    def fail(self, lease: Lease, error: str, *, retry: bool = True) -> JobStatus:
        settings = self._settings
        now = self._now()
        with self._store.transaction() as conn:
            row = conn.execute(select(_t).where(_t.c.id == lease.job.id)).first()
            if row is None:
                return "failed"
            if row.lease_token != lease.token or row.status != "running":
                status: JobStatus = row.status
                return status  # delivered again since: that delivery decides
            if retry and row.attempts < settings.max_attempts:
                conn.execute(
                    update(_t)
                    .where(_t.c.id == row.id)
                    .values(
                        status="queued",
                        error=error[:4000],
                        lease_token=None,
                        lease_owner=None,
                        lease_until=None,
                        available_at=now + backoff_s(settings.backoff_s, row.attempts),
                    )
                )
                return "queued"
            self._dead(conn, row.id, error, now)
            return "failed"

    def dead_letters(self, endpoint: str, limit: int = 100) -> list[Job]:
        now = self._now()
        with self._store.read() as conn:
            rows = conn.execute(
                select(_t)
                .where(
                    _t.c.endpoint == endpoint,
                    _t.c.status == "failed",
                    or_(_t.c.expires_at.is_(None), _t.c.expires_at > now),
                )
                .order_by(_t.c.finished_at.desc())
                .limit(limit)
            ).all()
        return [_job(r) for r in rows]

    def record_callback(self, endpoint: str, job_id: str, state: str) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                update(_t)
                .where(_t.c.id == job_id, _t.c.endpoint == endpoint)
                .values(callback_state=state[:400])
            )

    def purge_expired(self) -> int:
        with self._store.transaction() as conn:
            gone = conn.execute(delete(_t).where(_t.c.expires_at <= self._now()))
        return int(gone.rowcount or 0)

    def close(self) -> None:
        self._closed.set()  # the store is the session's: it closes it

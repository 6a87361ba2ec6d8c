"""The job queue on Redis Streams with a consumer group, for workers on many machines.

Per endpoint, under ``modelward:jobs:<endpoint>:``: a stream of job ids (the consumer
group ``workers`` hands each to one worker), a hash per job (status, payload, attempts,
lease, result), the idempotency keys, a sorted set of retries waiting out their backoff
and a sorted set of dead letters. A taken entry stays pending until the job finishes;
one whose worker died is claimed by another worker with ``XAUTOCLAIM`` once it has been
idle for the visibility timeout. Each state change is one Lua script, so it is atomic.
Finished jobs expire with the hash's TTL (``result_ttl_s``).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from modelward.connections import redact_url, redis_client
from modelward.errors import StoreUnavailable
from modelward.serving.jobs.base import Job, JobStatus, Lease, new_job_id

if TYPE_CHECKING:
    from modelward.config import JobsSettings
    from modelward.session import Session

__all__ = ["RedisJobQueue"]

_GROUP = "workers"
#: longest a take blocks on the stream: below the socket timeout, so a wait is not an error
_MAX_BLOCK_S = 2.0

# The dead-letter step both scripts below end a job with.
_DEAD = """
local function dead(job, idem, deadset, err, now, ttl_ms)
  redis.call('HSET', job, 'status', 'failed', 'error', err, 'finished_at', now, 'lease', '')
  redis.call('PEXPIRE', job, ttl_ms)
  if idem and idem ~= '' then redis.call('PEXPIRE', idem, ttl_ms) end
  redis.call('ZADD', deadset, now, redis.call('HGET', job, 'id'))
end
"""

# KEYS: idempotency key (or the job key again when none), job hash, stream
# ARGV: id, payload, now, callback url, has key (0/1), job key prefix, callback state
_SUBMIT = """
if ARGV[5] == '1' then
  local existing = redis.call('GET', KEYS[1])
  if existing and redis.call('EXISTS', ARGV[6] .. existing) == 1 then
    return {0, existing}
  end
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'status', 'queued', 'payload', ARGV[2],
  'attempts', 0, 'created_at', ARGV[3], 'callback_url', ARGV[4],
  'idem', ARGV[5] == '1' and KEYS[1] or '', 'callback_state', ARGV[7])
redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
return {1, ARGV[1]}
"""

# KEYS: job hash, stream, dead set   ARGV: entry id, token, consumer, max attempts, now,
# ttl ms. Returns the hash (a list) when the job is handed out, else nothing.
_TAKE = (
    _DEAD
    + """
local st = redis.call('HGET', KEYS[1], 'status')
if (not st) or st == 'succeeded' or st == 'failed' then
  redis.call('XACK', KEYS[2], 'workers', ARGV[1])
  redis.call('XDEL', KEYS[2], ARGV[1])
  return false
end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts'))
if attempts >= tonumber(ARGV[4]) then
  dead(KEYS[1], redis.call('HGET', KEYS[1], 'idem'), KEYS[3],
    'delivered ' .. attempts .. ' times and never finished: the worker holding it was ' ..
    'lost each time (last: ' .. (redis.call('HGET', KEYS[1], 'owner') or '?') .. ')',
    ARGV[5], ARGV[6])
  redis.call('XACK', KEYS[2], 'workers', ARGV[1])
  redis.call('XDEL', KEYS[2], ARGV[1])
  return false
end
redis.call('HSET', KEYS[1], 'status', 'running', 'attempts', attempts + 1, 'lease', ARGV[2],
  'owner', ARGV[3])
return redis.call('HGETALL', KEYS[1])
"""
)

# KEYS: job hash, stream   ARGV: entry id, result json, now, ttl ms
_COMPLETE = """
local st = redis.call('HGET', KEYS[1], 'status')
redis.call('XACK', KEYS[2], 'workers', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
if (not st) or st == 'succeeded' or st == 'failed' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'succeeded', 'result', ARGV[2], 'finished_at', ARGV[3],
  'lease', '', 'error', '')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local idem = redis.call('HGET', KEYS[1], 'idem')
if idem and idem ~= '' then redis.call('PEXPIRE', idem, ARGV[4]) end
return 1
"""

# KEYS: job hash, stream, delayed set, dead set
# ARGV: entry id, token, error, now, backoff base, max attempts, ttl ms, retry (0/1)
_FAIL = (
    _DEAD
    + """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 'failed' end
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] or st ~= 'running' then return st end
redis.call('XACK', KEYS[2], 'workers', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts'))
if ARGV[8] == '1' and attempts < tonumber(ARGV[6]) then
  local due = tonumber(ARGV[4]) + tonumber(ARGV[5]) * 2 ^ (attempts - 1)
  redis.call('HSET', KEYS[1], 'status', 'queued', 'error', ARGV[3], 'lease', '')
  redis.call('ZADD', KEYS[3], due, redis.call('HGET', KEYS[1], 'id'))
  return 'queued'
end
dead(KEYS[1], redis.call('HGET', KEYS[1], 'idem'), KEYS[4], ARGV[3], ARGV[4], ARGV[7])
return 'failed'
"""
)

# KEYS: delayed set, stream   ARGV: now, count. Retries whose backoff is over re-enter.
_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'id', id)
end
return #ids
"""

# KEYS: job hash   ARGV: state. Only a job that still exists (no resurrected husk).
_CALLBACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'callback_state', ARGV[1])
end
return 0
"""


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _job(endpoint: str, fields: dict[str, str]) -> Job:
    def number(name: str) -> float | None:
        raw = fields.get(name, "")
        return float(raw) if raw else None

    result = fields.get("result", "")
    return Job(
        id=fields["id"],
        endpoint=endpoint,
        status=fields["status"],  # type: ignore[arg-type]
        payload=orjson.loads(fields["payload"]),
        attempts=int(fields.get("attempts", "0")),
        created_at=float(fields["created_at"]),
        callback_url=fields.get("callback_url") or None,
        result=orjson.loads(result) if result else None,
        error=fields.get("error") or None,
        finished_at=number("finished_at"),
        callback_state=fields.get("callback_state") or None,
    )


class RedisJobQueue:
    """Jobs on Redis Streams (``XREADGROUP`` / ``XAUTOCLAIM``), one stream per endpoint."""

    def __init__(
        self,
        url: str,
        settings: JobsSettings,
        *,
        prefix: str = "modelward:jobs",
        socket_timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
    ) -> None:
        self._url = url
        self._settings = settings
        self._prefix = prefix
        self._client = redis_client(
            url, socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s
        )
        self._groups: set[str] = set()
        self._scripts = {
            name: self._client.register_script(text)
            for name, text in (
                ("submit", _SUBMIT),
                ("take", _TAKE),
                ("complete", _COMPLETE),
                ("fail", _FAIL),
                ("due", _DUE),
                ("callback", _CALLBACK),
            )
        }

    @classmethod
    def open(cls, target: str, session: Session, settings: JobsSettings) -> RedisJobQueue:
        return cls(target, settings)

    @property
    def label(self) -> str:
        return f"Redis {redact_url(self._url)}"

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(
                f"cannot reach the job queue at {redact_url(self._url)}: {type(exc).__name__}",
                store="jobs",
                url=redact_url(self._url),
            ) from None

    def _key(self, endpoint: str, *parts: str) -> str:
        return ":".join((self._prefix, endpoint, *parts))

    def _ensure_group(self, endpoint: str) -> None:
        if endpoint in self._groups:
            return
        import redis

        try:
            # from the stream's start: jobs submitted before any worker are delivered
            self._client.xgroup_create(self._key(endpoint, "stream"), _GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(endpoint)

    def submit(
        self,
        endpoint: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
    ) -> tuple[Job, bool]:
        job_id = new_job_id()
        now = time.time()
        job_key = self._key(endpoint, "job", job_id)
        idem = self._key(endpoint, "key", idempotency_key) if idempotency_key else job_key
        with self._reaching():
            self._ensure_group(endpoint)
            created, found = self._scripts["submit"](
                keys=[idem, job_key, self._key(endpoint, "stream")],
                args=[
                    job_id,
                    orjson.dumps(payload),
                    repr(now),
                    callback_url or "",
                    "1" if idempotency_key else "0",
                    self._key(endpoint, "job", ""),
                    "pending" if callback_url else "",
                ],
            )
        found_id = _text(found)
        if created:
            return (
                Job(
                    found_id,
                    endpoint,
                    "queued",
                    payload,
                    0,
                    now,
                    callback_url=callback_url,
                    callback_state="pending" if callback_url else None,
                ),
                True,
            )
        job = self.get(endpoint, found_id)
        if job is None:  # expired between the two reads: a fresh submit takes its place
            return self.submit(
                endpoint, payload, idempotency_key=idempotency_key, callback_url=callback_url
            )
        return job, False

    def get(self, endpoint: str, job_id: str) -> Job | None:
        with self._reaching():
            raw = self._client.hgetall(self._key(endpoint, "job", job_id))
        if not raw:
            return None
        return _job(endpoint, {_text(k): _text(v) for k, v in raw.items()})

    def take(self, endpoint: str, consumer: str, *, count: int, wait_s: float) -> list[Lease]:
        settings = self._settings
        stream = self._key(endpoint, "stream")
        with self._reaching():
            self._ensure_group(endpoint)
            self._scripts["due"](
                keys=[self._key(endpoint, "delayed"), stream], args=[repr(time.time()), count]
            )
            # a lease that ran out: the worker holding it died or hung
            reply = self._client.xautoclaim(
                stream,
                _GROUP,
                consumer,
                min_idle_time=int(settings.visibility_timeout_s * 1000),
                start_id="0-0",
                count=count,
            )
            # [next id, claimed, deleted ids] (Redis 7; 6.2 has no third part); an entry
            # deleted since it was read comes back without fields
            entries = [(entry, fields) for entry, fields in reply[1] if fields]
            if len(entries) < count:
                block = None if entries else int(min(wait_s, _MAX_BLOCK_S) * 1000)
                read = self._client.xreadgroup(
                    _GROUP, consumer, {stream: ">"}, count=count - len(entries), block=block or None
                )
                for _, messages in read or []:
                    entries.extend(messages)
            return self._lease(endpoint, consumer, entries)

    def _lease(
        self, endpoint: str, consumer: str, entries: list[tuple[Any, dict[Any, Any]]]
    ) -> list[Lease]:
        if not entries:
            return []
        settings = self._settings
        now = repr(time.time())
        ttl = int(settings.result_ttl_s * 1000)
        pipe = self._client.pipeline(transaction=False)
        tokens = []
        for entry, fields in entries:
            job_id = _text(fields[b"id"] if b"id" in fields else fields["id"])
            token = f"{_text(entry)}/{uuid.uuid4().hex[:12]}"
            tokens.append(token)
            self._scripts["take"](
                keys=[
                    self._key(endpoint, "job", job_id),
                    self._key(endpoint, "stream"),
                    self._key(endpoint, "dead"),
                ],
                args=[_text(entry), token, consumer[:200], settings.max_attempts, now, ttl],
                client=pipe,
            )
        leases = []
        for token, got in zip(tokens, pipe.execute(), strict=True):
            if got:
                fields = dict(zip(map(_text, got[::2]), map(_text, got[1::2]), strict=True))
                leases.append(Lease(_job(endpoint, fields), token))
        return leases

    def complete(self, lease: Lease, result: dict[str, Any]) -> bool:
        return self.complete_many([(lease, result)])[0]

    def complete_many(self, done: Sequence[tuple[Lease, dict[str, Any]]]) -> list[bool]:
        if not done:
            return []
        now = repr(time.time())
        ttl = int(self._settings.result_ttl_s * 1000)
        pipe = self._client.pipeline(transaction=False)
        for lease, result in done:
            job = lease.job
            self._scripts["complete"](
                keys=[self._key(job.endpoint, "job", job.id), self._key(job.endpoint, "stream")],
                args=[lease.token.partition("/")[0], orjson.dumps(result), now, ttl],
                client=pipe,
            )
        with self._reaching():
            return [bool(kept) for kept in pipe.execute()]

    def fail(self, lease: Lease, error: str, *, retry: bool = True) -> JobStatus:
        job = lease.job
        settings = self._settings
        entry = lease.token.partition("/")[0]
        with self._reaching():
            status = self._scripts["fail"](
                keys=[
                    self._key(job.endpoint, "job", job.id),
                    self._key(job.endpoint, "stream"),
                    self._key(job.endpoint, "delayed"),
                    self._key(job.endpoint, "dead"),
                ],
                args=[
                    entry,
                    lease.token,
                    error[:4000],
                    repr(time.time()),
                    settings.backoff_s,
                    settings.max_attempts,
                    int(settings.result_ttl_s * 1000),
                    "1" if retry else "0",
                ],
            )
        found: JobStatus = _text(status)  # type: ignore[assignment]
        return found

    def dead_letters(self, endpoint: str, limit: int = 100) -> list[Job]:
        dead = self._key(endpoint, "dead")
        with self._reaching():
            ids = [_text(i) for i in self._client.zrevrange(dead, 0, max(limit - 1, 0))]
            pipe = self._client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hgetall(self._key(endpoint, "job", job_id))
            found = pipe.execute() if ids else []
            gone = [job_id for job_id, raw in zip(ids, found, strict=True) if not raw]
            if gone:  # expired: their hashes are gone, their places in the set go too
                self._client.zrem(dead, *gone)
        return [
            _job(endpoint, {_text(k): _text(v) for k, v in raw.items()}) for raw in found if raw
        ]

    def record_callback(self, endpoint: str, job_id: str, state: str) -> None:
        with self._reaching():
            self._scripts["callback"](keys=[self._key(endpoint, "job", job_id)], args=[state[:400]])

    def purge_expired(self) -> int:
        return 0  # finished jobs carry a TTL: Redis forgets them on its own

    def close(self) -> None:
        self._client.close()

"""The Redis Stream prediction log: scale-out, shared by every gateway replica.

One stream per endpoint, ``<prefix>:predictions:<endpoint>``, plus a set naming the
endpoints that have one. A batch is one Lua script of ``XADD`` calls, so it lands all or
none, and at most once: the script first sets a marker key named by the batch's id (a
hash of its records' request ids, times, roles and versions) with ``SET NX``, and adds
nothing when the marker is already there. Per endpoint a hash ``<stream>:ids`` maps request id
to arrival time (delayed labels ask whether a request id was logged; a stream has no index
by field), written by the same script. A write whose reply was lost to a timeout
(Redis did write it) is retried by the writer; the retry finds the marker and adds no
duplicate. Markers expire after ``batch_marker_ttl_s``.

Streams are unbounded by default (``maxlen = 0``): the log is what monitoring and
delayed-label evaluation read, so trimming is their decision; set ``maxlen`` to cap
memory, knowing Redis then trims the oldest entries (approximately, ``~``).

A window is read with ``XRANGE`` in pages from the stream id of its start (an entry is
written after it arrived, so its id is never below its ``at_us``) and filtered here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from modelward.connections import redact_url, redis_client
from modelward.errors import StoreUnavailable
from modelward.monitoring.predictions.base import PredictionRecord
from modelward.monitoring.predictions.table import check_table, json_texts
from modelward.monitoring.predictions.window import (
    WINDOW_FIELDS,
    build_fixed,
    build_window_from_json,
    check_columns,
    needs_payload,
    project,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["RedisPredictionSink", "RedisPredictionSinkConfig"]


class RedisPredictionSinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["redis"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "mw"
    #: approximate cap per endpoint stream; 0 keeps everything
    maxlen: int = Field(default=0, ge=0)
    socket_timeout_s: float = Field(default=2.0, gt=0)
    connect_timeout_s: float = Field(default=2.0, gt=0)
    #: seconds a written batch's marker is kept: a retry of it within that time adds nothing
    batch_marker_ttl_s: int = Field(default=3_600, ge=60)
    #: rows of a table write (batch scoring) per script call: each lands all or none
    table_chunk_rows: int = Field(default=5_000, ge=1, le=100_000)


#: KEYS: the batch marker, the endpoint index, then one stream key per record.
#: ARGV: marker ttl, maxlen (0: none), how many endpoint names follow, the names, then per
#: record its field count and its field/value pairs.
_WRITE_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  return 0
end
local maxlen = tonumber(ARGV[2])
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  redis.call('SADD', KEYS[2], ARGV[i])
  i = i + 1
end
for k = 3, #KEYS do
  local n = tonumber(ARGV[i])
  i = i + 1
  local start = i
  local args = {KEYS[k]}
  if maxlen > 0 then
    args[#args + 1] = 'MAXLEN'
    args[#args + 1] = '~'
    args[#args + 1] = maxlen
  end
  args[#args + 1] = '*'
  for _ = 1, n do
    args[#args + 1] = ARGV[i]
    i = i + 1
  end
  redis.call('XADD', unpack(args))
  -- the record's first two fields are request_id and at_us (see _fields)
  redis.call('HSET', KEYS[k] .. ':ids', ARGV[start + 1], ARGV[start + 3])
end
return 1
"""


def batch_id(records: Sequence[PredictionRecord]) -> str:
    """The same records give the same id: what makes a retried write land once."""
    digest = hashlib.blake2b(digest_size=16)
    for r in records:
        digest.update(f"{r.request_id}\x1f{r.at_us}\x1f{r.role}\x1f{r.model_version}\x1e".encode())
    return digest.hexdigest()


def _fields(r: PredictionRecord) -> dict[str, Any]:
    option = orjson.OPT_SERIALIZE_NUMPY
    return {
        "request_id": r.request_id,
        "at_us": r.at_us,
        "endpoint": r.endpoint,
        "model": r.model,
        "model_version": r.model_version,
        "inputs": orjson.dumps(r.inputs, option=option),
        "prediction": orjson.dumps(r.prediction, option=option),
        "latency_ms": repr(float(r.latency_ms)),
        "degraded": "1" if r.degraded else "0",
        "mode": r.mode,
        "role": r.role,
        "release_id": r.release_id,
        "error": r.error,
    }


def _record(fields: dict[bytes, bytes]) -> PredictionRecord:
    return PredictionRecord(
        request_id=fields[b"request_id"].decode(),
        at_us=int(fields[b"at_us"]),
        endpoint=fields[b"endpoint"].decode(),
        model=fields[b"model"].decode(),
        model_version=fields[b"model_version"].decode(),
        inputs=orjson.loads(fields[b"inputs"]),
        prediction=orjson.loads(fields[b"prediction"]),
        latency_ms=float(fields[b"latency_ms"]),
        degraded=fields[b"degraded"] == b"1",
        # entries written before these fields existed have none
        mode=fields.get(b"mode", b"online").decode(),
        role=fields.get(b"role", b"primary").decode(),
        release_id=fields.get(b"release_id", b"").decode(),
        error=fields.get(b"error", b"").decode(),
    )


def _stream_id(value: str) -> tuple[int, int]:
    if value in ("-", ""):
        return (0, 0)
    ms, _, seq = value.lstrip("(").partition("-")
    return (int(ms), int(seq or 0))


class RedisPredictionSink:
    def __init__(
        self,
        url: str,
        key_prefix: str = "mw",
        maxlen: int = 0,
        socket_timeout_s: float = 2.0,
        connect_timeout_s: float = 2.0,
        batch_marker_ttl_s: int = 3_600,
        table_chunk_rows: int = 5_000,
    ) -> None:
        import redis

        self._url = url
        self._prefix = key_prefix
        self._maxlen = maxlen
        self._marker_ttl = batch_marker_ttl_s
        self._table_chunk = table_chunk_rows
        self._errors: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._client: Any = redis_client(
            url, socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s
        )
        # EVALSHA, loading the script again if the server lost it (a restart, SCRIPT FLUSH)
        self._write_once: Any = self._client.register_script(_WRITE_ONCE)

    @classmethod
    def from_config(cls, config: RedisPredictionSinkConfig, root: Path) -> RedisPredictionSink:
        return cls(
            config.url,
            config.key_prefix,
            config.maxlen,
            config.socket_timeout_s,
            config.connect_timeout_s,
            config.batch_marker_ttl_s,
            config.table_chunk_rows,
        )

    @property
    def label(self) -> str:
        return f"redis:{redact_url(self._url)}/{self._prefix}"

    def stream(self, endpoint: str) -> str:
        """The stream key of ``endpoint``; monitoring reads it with consumer groups."""
        return f"{self._prefix}:predictions:{endpoint}"

    @property
    def _index(self) -> str:
        return f"{self._prefix}:predictions:endpoints"

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(
            f"cannot reach the prediction log {self.label}: {exc}", store=self.label
        )

    def write(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        endpoints = sorted({r.endpoint for r in records})
        keys = [f"{self._prefix}:predictions:batch:{batch_id(records)}", self._index]
        args: list[Any] = [self._marker_ttl, self._maxlen, len(endpoints), *endpoints]
        for r in records:  # serialised first: a record that cannot be is refused whole
            keys.append(self.stream(r.endpoint))
            fields = _fields(r)
            args.append(2 * len(fields))
            for name, value in fields.items():
                args.extend((name, value))
        try:
            self._write_once(keys=keys, args=args)
        except self._errors as exc:
            raise self._unavailable(exc) from None

    def write_table(self, endpoint: str, table: pa.Table) -> None:
        """Chunks of ``table_chunk_rows`` rows, each one call of the write-once script.

        Each chunk is all or none and carries its own marker (a hash of the endpoint and
        the rows, as :func:`batch_id` hashes a batch), so a retry of the same table after
        a lost reply adds only the chunks that did not land. The rows' fields come from
        whole columns (the JSON texts rendered by DuckDB in one pass); no record object is
        built per row.
        """
        check_table(table)
        n = table.num_rows
        if not n:
            return
        inputs, predictions = json_texts(table)
        column = table.column
        ids = column("request_id").to_pylist()
        at_us = column("at_us").to_pylist()
        models = column("model").to_pylist()
        versions = column("model_version").to_pylist()
        latencies = [repr(float(v)) for v in column("latency_ms").to_pylist()]
        degraded = ["1" if v else "0" for v in column("degraded").to_pylist()]
        modes = column("mode").to_pylist()
        roles = column("role").to_pylist()
        releases = column("release_id").to_pylist()
        errors = column("error").to_pylist()
        stream = self.stream(endpoint)
        step = self._table_chunk
        try:
            for start in range(0, n, step):
                rows = range(start, min(start + step, n))
                digest = hashlib.blake2b(digest_size=16)
                digest.update(f"table\x1f{endpoint}\x1e".encode())
                for i in rows:
                    digest.update(
                        f"{ids[i]}\x1f{at_us[i]}\x1f{roles[i]}\x1f{versions[i]}\x1e".encode()
                    )
                keys = [f"{self._prefix}:predictions:batch:{digest.hexdigest()}", self._index]
                args: list[Any] = [self._marker_ttl, self._maxlen, 1, endpoint]
                for i in rows:
                    keys.append(stream)
                    args.extend(
                        (
                            26,
                            "request_id",
                            ids[i],
                            "at_us",
                            at_us[i],
                            "endpoint",
                            endpoint,
                            "model",
                            models[i],
                            "model_version",
                            versions[i],
                            "inputs",
                            inputs[i],
                            "prediction",
                            predictions[i],
                            "latency_ms",
                            latencies[i],
                            "degraded",
                            degraded[i],
                            "mode",
                            modes[i],
                            "role",
                            roles[i],
                            "release_id",
                            releases[i],
                            "error",
                            errors[i],
                        )
                    )
                self._write_once(keys=keys, args=args)
        except self._errors as exc:
            raise self._unavailable(exc) from None

    def _ids(self, endpoint: str) -> str:
        return f"{self.stream(endpoint)}:ids"

    def read_window(
        self,
        endpoint: str,
        *,
        version: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        after: str | None = None,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        keep = check_columns(columns)
        lower = "-" if start_us is None else f"{start_us // 1000}-0"
        if after is not None and _stream_id(after) >= _stream_id(lower):
            lower = f"({after}"
        fixed: list[list[Any]] = [[] for _ in WINDOW_FIELDS]
        inputs: list[bytes] = []
        predictions: list[bytes] = []
        page = 10_000 if limit is None else min(limit, 10_000)
        try:
            while limit is None or len(inputs) < limit:
                entries = self._client.xrange(self.stream(endpoint), min=lower, count=page)
                for entry_id, f in entries:
                    at_us = int(f[b"at_us"])
                    model_version = f[b"model_version"].decode()
                    if (
                        (version is not None and model_version != version)
                        or (start_us is not None and at_us < start_us)
                        or (end_us is not None and at_us >= end_us)
                    ):
                        continue
                    row = (
                        entry_id.decode(),
                        f[b"request_id"].decode(),
                        at_us,
                        f[b"endpoint"].decode(),
                        f[b"model"].decode(),
                        model_version,
                        float(f[b"latency_ms"]),
                        f[b"degraded"] == b"1",
                        f.get(b"mode", b"online").decode(),
                        f.get(b"role", b"primary").decode(),
                        f.get(b"release_id", b"").decode(),
                        f.get(b"error", b"").decode(),
                    )
                    for column, value in zip(fixed, row, strict=True):
                        column.append(value)
                    inputs.append(f[b"inputs"])
                    predictions.append(f[b"prediction"])
                    if limit is not None and len(inputs) == limit:
                        break
                if len(entries) < page:
                    break
                lower = f"({entries[-1][0].decode()}"
        except self._errors as exc:
            raise self._unavailable(exc) from None
        if not needs_payload(keep) and keep is not None:
            return build_fixed(fixed, keep)  # the JSON texts are never parsed
        return project(build_window_from_json(fixed, inputs, predictions), keep)

    def find_request_ids(self, endpoint: str, request_ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(request_ids))
        if not wanted:
            return set()
        try:
            found = self._client.hmget(self._ids(endpoint), wanted)
        except self._errors as exc:
            raise self._unavailable(exc) from None
        return {rid for rid, at in zip(wanted, found, strict=True) if at is not None}

    def prune(self, before_us: int) -> int:
        """Trims each stream below the stream id of ``before_us``: entries written before
        it (so arrived before it too); a late-written old entry stays until the next prune."""
        cutoff = f"{before_us // 1000}-0"
        dropped = 0
        try:
            for name in self._endpoints(None):
                old = self._client.xrange(self.stream(name), max=f"({cutoff}")
                if not old:
                    continue
                pipe = self._client.pipeline(transaction=True)
                pipe.xtrim(self.stream(name), minid=cutoff, approximate=False)
                pipe.hdel(self._ids(name), *{f[b"request_id"] for _, f in old})
                pipe.execute()
                dropped += len(old)
        except self._errors as exc:
            raise self._unavailable(exc) from None
        return dropped

    def _endpoints(self, endpoint: str | None) -> list[str]:
        if endpoint is not None:
            return [endpoint]
        return sorted(m.decode() for m in self._client.smembers(self._index))

    def read(self, endpoint: str | None = None, limit: int | None = None) -> list[PredictionRecord]:
        try:
            found: list[tuple[bytes, PredictionRecord]] = []
            for name in self._endpoints(endpoint):
                entries = self._client.xrange(self.stream(name), count=limit)
                found.extend((entry_id, _record(fields)) for entry_id, fields in entries)
        except self._errors as exc:
            raise self._unavailable(exc) from None
        # stream ids are "<ms>-<seq>": ordering across endpoints follows write time. Each
        # stream numbers its own entries, so two streams' entries of one millisecond can
        # share an id; the records' own times break that tie (else a write crossing a
        # millisecond put a later record of one endpoint before an earlier one of another)
        found.sort(key=lambda item: (*(int(p) for p in item[0].split(b"-")), item[1].at_us))
        records = [r for _, r in found]
        return records if limit is None else records[:limit]

    def count(self, endpoint: str | None = None) -> int:
        try:
            return sum(int(self._client.xlen(self.stream(n))) for n in self._endpoints(endpoint))
        except self._errors as exc:
            raise self._unavailable(exc) from None

    def drop(self) -> None:
        """Delete every stream of this prefix (tests and workspace resets)."""
        names = self._endpoints(None)
        markers = list(self._client.scan_iter(match=f"{self._prefix}:predictions:batch:*"))
        self._client.delete(
            *(self.stream(n) for n in names), *(self._ids(n) for n in names), *markers, self._index
        )

    def close(self) -> None:
        self._client.close()

"""The gateway's job routes, mounted beside predict.

``POST /v1/endpoints/{name}/jobs`` checks the token, the caller and the body exactly as
predict does, queues the job and answers 202 with its id (and ``Location``); the same
``Idempotency-Key`` again answers with the same job. ``GET /v1/endpoints/{name}/jobs/{id}``
answers the job's status, and its result once there is one. The queue is called on a
thread: the event loop never waits on the metadata database or Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelward.errors import InternalError, MethodNotAllowed, ModelwardError, NotFound
from modelward.serving.auth import may_call
from modelward.serving.intake import ClientGone, read_body
from modelward.serving.jobs.submission import check_idempotency_key, parse_job
from modelward.serving.problems import problem_body, respond
from modelward.serving.schema import RequestSchema

if TYPE_CHECKING:
    from modelward.config import JobsSettings
    from modelward.serving.dialect import HttpRequest
    from modelward.serving.gateway import Gateway
    from modelward.serving.jobs.base import JobQueue
    from modelward.serving.runtime import EndpointRuntime
    from modelward.session import Session

__all__ = ["JobRoutes"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_log = logging.getLogger("modelward.serving")
_PREFIX = "/v1/endpoints/"
_JSON = [(b"content-type", b"application/json")]
_PROBLEM = [(b"content-type", b"application/problem+json")]


class JobRoutes:
    """``/v1/endpoints/{name}/jobs[/{id}]`` on a :class:`~modelward.serving.gateway.Gateway`."""

    def __init__(
        self,
        gateway: Gateway,
        open_queue: Callable[[], JobQueue],
        settings: JobsSettings,
        *,
        root: Path | None = None,
        callbacks: bool = False,
    ) -> None:
        self._gateway = gateway
        self._open_queue = open_queue
        self._queue: JobQueue | None = None
        self._settings = settings
        self._root = root
        self._callbacks = callbacks
        #: per endpoint runtime, its schema with the job row limit (built once per runtime)
        self._schemas: dict[str, tuple[EndpointRuntime, RequestSchema]] = {}

    @classmethod
    def for_workspace(cls, gateway: Gateway, session: Session) -> JobRoutes:
        """The routes on the workspace's queue (``[serving.jobs]``), opened on first use."""
        from modelward.serving.jobs.base import open_job_queue

        workspace = session.workspace
        return cls(
            gateway,
            lambda: open_job_queue(session),
            workspace.settings.serving.jobs,
            root=workspace.root,
            callbacks=workspace.secrets.webhook_secret is not None,
        )

    @staticmethod
    def matches(path: str) -> bool:
        if not path.startswith(_PREFIX):
            return False
        parts = path[len(_PREFIX) :].split("/")
        return len(parts) in (2, 3) and parts[1] == "jobs" and all(parts)

    def openapi_paths(self, runtimes: Mapping[str, EndpointRuntime]) -> dict[str, Any]:
        # not yet described: the job routes' document is the async context's to write
        return {}

    def _queue_now(self) -> JobQueue:
        if self._queue is None:
            self._queue = self._open_queue()
        return self._queue

    def close(self) -> None:
        if self._queue is not None:
            self._queue.close()

    def _schema(self, runtime: EndpointRuntime) -> RequestSchema:
        name = runtime.spec.name
        known = self._schemas.get(name)
        if known is not None and known[0] is runtime:
            return known[1]
        schema = RequestSchema(name, runtime.schema.fields, self._settings.max_rows)
        self._schemas[name] = (runtime, schema)
        return schema

    async def __call__(self, gateway: Gateway, request: HttpRequest) -> bool:
        if not self.matches(request.path):
            return False
        await self._answer(request)
        return True

    async def _answer(self, request: HttpRequest) -> None:
        path, receive, send = request.path, request.receive, request.send
        request_id = request.request_id
        name, _, job_id = path[len(_PREFIX) :].partition("/jobs")
        job_id = job_id.lstrip("/")
        headers = dict(request.headers)
        method = request.method
        try:
            if job_id and method != "GET":
                raise MethodNotAllowed(f"{path[:100]} accepts GET only")
            if not job_id and method != "POST":
                raise MethodNotAllowed(f"{path[:100]} accepts POST only")
            authorization = headers.get(b"authorization")
            principal = await self._gateway.verifier.principal(
                authorization.decode("latin-1") if authorization else None
            )
            runtime = self._gateway.cache.runtimes.get(name)
            if runtime is None:
                raise NotFound(f"endpoint {name[:60]!r} is not served here", endpoint=name[:60])
            may_call(principal, runtime.spec)
            if job_id:
                await self._status(send, name, job_id, request_id)
            else:
                await self._submit(send, receive, runtime, headers, request_id)
        except ClientGone:
            return
        except ModelwardError as exc:
            extra = [(b"allow", b"GET" if job_id else b"POST")] if exc.http_status == 405 else []
            await respond(
                send, exc.http_status, problem_body(exc, request_id), _PROBLEM + extra, request_id
            )
        except Exception:  # a bug: answer 500 without internals, log the cause
            _log.exception("job request %s failed", request_id)
            failed = InternalError(
                "the gateway failed on this request; it is logged with its request id"
            )
            await respond(send, 500, problem_body(failed, request_id), _PROBLEM, request_id)

    async def _submit(
        self,
        send: Send,
        receive: Receive,
        runtime: EndpointRuntime,
        headers: dict[bytes, bytes],
        request_id: str,
    ) -> None:
        name = runtime.spec.name
        raw_key = headers.get(b"idempotency-key")
        key = check_idempotency_key(name, raw_key.decode("latin-1") if raw_key else None)
        body = await read_body(
            receive,
            headers.get(b"content-length"),
            self._settings.max_body_bytes,
            self._gateway.settings.body_timeout_s,
        )
        asked = parse_job(body, self._schema(runtime), root=self._root, callbacks=self._callbacks)
        queue = self._queue_now()
        job, created = await asyncio.to_thread(
            queue.submit,
            name,
            asked.payload,
            idempotency_key=key,
            callback_url=asked.callback_url,
        )
        location = f"{_PREFIX}{name}/jobs/{job.id}"
        answer = {
            "job_id": job.id,
            "endpoint": name,
            "status": job.status,
            "created": created,
            "location": location,
        }
        await respond(
            send,
            202,
            orjson.dumps(answer),
            [*_JSON, (b"location", location.encode("latin-1"))],
            request_id,
        )

    async def _status(self, send: Send, name: str, job_id: str, request_id: str) -> None:
        job = await asyncio.to_thread(self._queue_now().get, name, job_id[:64])
        if job is None:
            raise NotFound(
                f"endpoint {name[:60]!r} has no job {job_id[:64]!r} (never submitted, or its "
                "result expired)",
                endpoint=name[:60],
            )
        await respond(send, 200, orjson.dumps(job.to_dict()), _JSON, request_id)

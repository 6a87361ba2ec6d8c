"""The Open Inference Protocol v2 over gRPC: ``inference.GRPCInferenceService``.

The service of the protocol's published ``grpc_predict_v2.proto`` (checked in beside this
module, with its generated messages), served by grpc's threaded server, each call scored
on the gateway's event loop (see :class:`GrpcInference` for why), on its own port
(``serving.grpc_port``; 0 turns it off). ``ModelInfer`` goes through
:meth:`~modelward.serving.gateway.Gateway.predict` like every REST protocol: the same
token cache and callers, concurrency slots, validation, release routing, breakers,
features, metrics and prediction log. The token comes as ``authorization: Bearer <token>``
metadata; the server-level calls (live, ready, server metadata) need none, like
``/healthz``. Messages are bounded both ways by ``serving.max_body_bytes``
(``RESOURCE_EXHAUSTED`` past it). Errors are gRPC status codes with the gateway's
message: 400/422 ``INVALID_ARGUMENT``, 401 ``UNAUTHENTICATED``, 403 ``PERMISSION_DENIED``,
404 ``NOT_FOUND``, 503 ``UNAVAILABLE``.

Element data comes either in the typed ``contents`` or in ``raw_input_contents``
(little-endian, BYTES elements each after a 4-byte length), as clients such as Triton's
send it. Answers are raw (``raw_output_contents``): Triton's clients read numbers from
there only, and KServe's read either.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

from modelward.errors import ModelwardError, NotFound
from modelward.serving.auth import may_call
from modelward.serving.dialect import Message, Parsed
from modelward.serving.gateway import Gateway
from modelward.serving.oip import (
    OUTPUT,
    InferRequest,
    Tensor,
    check_datatype,
    check_shape,
    invalid,
    output_tensor,
    rows_from_tensors,
)
from modelward.serving.oip_proto import grpc_predict_v2_pb2 as pb
from modelward.serving.oip_rest import model_metadata, server_metadata
from modelward.serving.runtime import EndpointRuntime

__all__ = ["SERVICE", "GrpcDialect", "GrpcInference", "raw_elements", "request_from_proto"]

_log = logging.getLogger("modelward.serving")
T = TypeVar("T")
SERVICE = "inference.GRPCInferenceService"
_INFER_PATH = f"/{SERVICE}/ModelInfer"
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ABORTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
#: struct codes of raw little-endian elements
_RAW = {
    "BOOL": "?",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "FP32": "f",
    "FP64": "d",
}
#: the typed ``contents`` field of each datatype
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def request_from_proto(message: Any, model: str) -> InferRequest:
    """The protocol's gRPC ``ModelInferRequest`` as an :class:`InferRequest`, checked."""
    errors: list[dict[str, str]] = []
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        errors.append(
            {
                "field": "raw_input_contents",
                "rule": f"needs one entry per input ({len(message.inputs)}), not {len(raw)}",
            }
        )
        raise invalid(errors, model)
    tensors = []
    for i, given in enumerate(message.inputs):
        where = f"inputs[{i}]"
        if not check_datatype(where, given.datatype, errors):
            continue
        if raw:
            data = _raw_elements(where, given.datatype, raw[i], errors)
        else:
            data = _typed_elements(where, given, errors)
        if data is None or not check_shape(where, list(given.shape), len(data), errors):
            continue
        # protobuf's typed fields and struct give each datatype's Python type: no element
        # check (JSON's can hold anything, see oip.request_from_json)
        tensors.append(Tensor(given.name, given.datatype, list(given.shape), data))
    if errors:
        raise invalid(errors, model)
    outputs = [out.name for out in message.outputs]
    return InferRequest(tensors, message.id[:128], outputs, {})


def _utf8(where: str, items: list[bytes], errors: list[dict[str, str]]) -> list[Any] | None:
    texts = []
    for j, item in enumerate(items):
        try:
            texts.append(item.decode("utf-8"))
        except UnicodeDecodeError as exc:
            errors.append(
                {
                    "field": f"{where}.data[{j}]",
                    "rule": f"a BYTES element must be UTF-8 text (byte {exc.start} is not)",
                }
            )
            return None
    return texts


def _typed_elements(where: str, given: Any, errors: list[dict[str, str]]) -> list[Any] | None:
    items = list(getattr(given.contents, _CONTENTS[given.datatype]))
    if given.datatype == "BYTES":
        return _utf8(where, items, errors)
    return items


def _raw_elements(
    where: str, datatype: str, blob: bytes, errors: list[dict[str, str]]
) -> list[Any] | None:
    if datatype == "BYTES":
        items, at = [], 0
        while at < len(blob):
            if at + 4 > len(blob):
                break
            (size,) = struct.unpack_from("<I", blob, at)
            at += 4
            if at + size > len(blob):
                break
            items.append(blob[at : at + size])
            at += size
        else:
            return _utf8(where, items, errors)
        errors.append(
            {"field": f"{where}.raw", "rule": "a BYTES element's length runs past its data"}
        )
        return None
    size = struct.calcsize(_RAW[datatype])
    if len(blob) % size:
        errors.append(
            {
                "field": f"{where}.raw",
                "rule": f"{len(blob)} bytes is not a whole number of {datatype} elements",
            }
        )
        return None
    # struct, not numpy: for the few elements of an online request it is several times faster
    return list(struct.unpack(f"<{len(blob) // size}{_RAW[datatype]}", blob))


def raw_elements(datatype: str, data: list[Any]) -> bytes:
    """``data`` as the protocol's raw contents: little-endian, BYTES length-prefixed."""
    if datatype == "BYTES":
        parts = []
        for text in data:
            item = text.encode("utf-8", "backslashreplace")
            parts += [struct.pack("<I", len(item)), item]
        return b"".join(parts)
    return struct.pack(f"<{len(data)}{_RAW[datatype]}", *data)


class GrpcDialect:
    """One ``ModelInferRequest`` (already decoded by gRPC) in, its response bytes out."""

    headers: list[tuple[bytes, bytes]] = []

    def __init__(self, message: Any) -> None:
        self.message = message

    def parse(self, runtime: EndpointRuntime, body: bytes) -> Parsed:
        request = request_from_proto(self.message, runtime.spec.name)
        rows = rows_from_tensors(request, runtime.schema.fields, runtime.spec.name)
        rows, _ = runtime.schema.validate({"inputs": rows})
        return Parsed(rows, True, request.id)

    def render(self, payload: dict[str, Any], parsed: Parsed) -> bytes:
        datatype, shape, data = output_tensor(payload["predictions"])
        # fields set in place: building the message from keyword arguments costs twice this
        response = pb.ModelInferResponse(
            model_name=payload["endpoint"],
            model_version=payload["model_version"] or "",
            id=parsed.context or payload["request_id"],
        )
        parameters = response.parameters
        parameters["request_id"].string_param = payload["request_id"]
        parameters["degraded"].bool_param = payload["degraded"]
        if payload["degraded"]:
            parameters["reason"].string_param = payload["reason"]
        output = response.outputs.add()
        output.name, output.datatype = OUTPUT, datatype
        output.shape.extend(shape)
        response.raw_output_contents.append(raw_elements(datatype, data))
        body: bytes = response.SerializeToString()
        return body

    def problem(
        self, exc: ModelwardError, request_id: str
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        return exc.message.encode("utf-8", "backslashreplace"), []


class _Answer:
    """What the scoring path sent, captured for a gRPC reply (status, body)."""

    __slots__ = ("body", "status")

    def __init__(self) -> None:
        self.status = 0
        self.body = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        else:
            self.body += message.get("body", b"")


async def _no_body() -> Message:
    # the message was decoded (and bounded) by gRPC; the scoring path reads no body
    return {"type": "http.request", "body": b"", "more_body": False}


def _metadata(context: grpc.ServicerContext, key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


class _Call:
    """One ``ModelInfer`` handed from its grpc thread to the loop; ``done`` is released
    (the thread waiting on it wakes) when ``answer`` or ``error`` is set."""

    __slots__ = ("answer", "authorization", "done", "error", "given_id", "request")

    def __init__(self, request: Any, authorization: str | None, given_id: str | None) -> None:
        self.request = request
        self.authorization = authorization
        self.given_id = given_id
        self.answer: _Answer | None = None
        self.error: BaseException | None = None
        # a plain lock as a one-shot signal: one futex wake, where a Future's Condition
        # and run_coroutine_threadsafe's chained futures cost several lock round trips
        self.done = threading.Lock()
        self.done.acquire()


class GrpcInference:
    """The gRPC port of one gateway (``gateway.attach(GrpcInference(gateway, ...))``),
    served by grpc's threaded server; the calls are scored on the gateway's event loop.

    grpc's C core reads and writes the HTTP/2 frames on its own threads, without the GIL;
    a handler thread decodes the message and queues the call for the loop, where it takes
    the same path as a REST request, and waits for the answer. The loop is woken once per
    burst of calls (not once per call), and all the calls of a burst start in one loop
    turn, so they share the endpoint's micro-batches as concurrent HTTP requests do.
    Measured against ``grpc.aio`` on the same loop: fewer thread switches per call and
    less server CPU (benchmarks/protocols.py). ``threads`` bounds the calls in flight
    (each waits on a thread), like ``max_concurrency`` for HTTP.

    Shutdown (the gateway's lifespan shutdown, before the model workers stop): the port
    stops taking calls, the calls in flight finish within ``graceful_timeout_s`` (then
    grpc cancels them), and the handler threads are joined, so nothing of the port
    outlives the gateway."""

    def __init__(
        self, gateway: Gateway, host: str, port: int, max_message_bytes: int, threads: int = 64
    ) -> None:
        self.gateway = gateway
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.threads = threads
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued: deque[_Call] = deque()
        self._queue_lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        limit = self.max_message_bytes
        self._executor = ThreadPoolExecutor(
            max_workers=self.threads, thread_name_prefix="grpc-handler"
        )
        server = grpc.server(
            self._executor,
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                # every worker process of `modelward serve` listens on the same port
                ("grpc.so_reuseport", 1),
            ],
        )
        server.add_generic_rpc_handlers((self._handlers(),))
        self.port = server.add_insecure_port(f"{self.host}:{self.port}")
        server.start()
        self._server = server
        _log.info("gRPC inference on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Refuse new calls, let those in flight finish, then join the handler threads."""
        server, executor = self._server, self._executor
        self._server = self._executor = None
        if server is not None:
            # the loop keeps running while this waits: the calls in flight need it
            stopped = server.stop(self.gateway.settings.graceful_timeout_s)
            await asyncio.to_thread(stopped.wait)
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, True, cancel_futures=True)

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        # the metadata calls: rare, so the plain (heavier) hand-over is fine
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _score(self, call: _Call) -> _Answer:
        """On a grpc thread: queue ``call`` for the loop and wait for its answer."""
        loop = self._loop
        assert loop is not None
        with self._queue_lock:
            first = not self._queued
            self._queued.append(call)
        if first:  # the loop is not yet woken for this burst
            try:
                loop.call_soon_threadsafe(self._start_queued)
            except RuntimeError:  # the loop is closed: the gateway is gone
                raise _Gone from None
        call.done.acquire()
        if call.error is not None:
            raise call.error
        assert call.answer is not None
        return call.answer

    def _start_queued(self) -> None:
        """On the loop: start every queued call in this turn (they batch together)."""
        with self._queue_lock:
            calls = list(self._queued)
            self._queued.clear()
        for call in calls:
            task = asyncio.create_task(self._run(call))
            self._tasks.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._tasks.discard)

    async def _run(self, call: _Call) -> None:
        try:
            call.answer = await _score(
                self.gateway, call.request, call.authorization, call.given_id
            )
        except BaseException as exc:  # cancelled at loop shutdown: the thread must wake
            call.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            call.done.release()

    def _handlers(self) -> grpc.GenericRpcHandler:
        def unary(call: Callable[[Any, grpc.ServicerContext], Any], request: Any) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                call,
                request_deserializer=request.FromString,
                response_serializer=lambda m: m.SerializeToString(),
            )

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "ServerLive": unary(
                    lambda r, c: pb.ServerLiveResponse(live=True), pb.ServerLiveRequest
                ),
                "ServerReady": unary(
                    lambda r, c: pb.ServerReadyResponse(
                        ready=self.gateway.ready and not self.gateway.cache.failed
                    ),
                    pb.ServerReadyRequest,
                ),
                "ServerMetadata": unary(
                    lambda r, c: pb.ServerMetadataResponse(**server_metadata()),
                    pb.ServerMetadataRequest,
                ),
                "ModelReady": unary(self._model_ready, pb.ModelReadyRequest),
                "ModelMetadata": unary(self._model_metadata, pb.ModelMetadataRequest),
                "ModelInfer": grpc.unary_unary_rpc_method_handler(
                    self._infer, request_deserializer=pb.ModelInferRequest.FromString
                ),
            },
        )

    def _model(self, request: Any, context: grpc.ServicerContext) -> EndpointRuntime:
        try:
            return self._on_loop(
                _find_model(self.gateway, request, _metadata(context, "authorization"))
            )
        except ModelwardError as exc:
            context.abort(_CODES.get(exc.http_status, grpc.StatusCode.INTERNAL), exc.message)
            raise  # abort raises; this line tells the type checker so

    def _model_ready(self, request: Any, context: grpc.ServicerContext) -> Any:
        runtime = self._model(request, context)
        return pb.ModelReadyResponse(ready=self.gateway.ready and runtime.unavailable is None)

    def _model_metadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _metadata_response(self._model(request, context))

    def _infer(self, request: Any, context: grpc.ServicerContext) -> bytes:
        call = _Call(
            request, _metadata(context, "authorization"), _metadata(context, "x-request-id")
        )
        try:
            answer = self._score(call)
        except (_Gone, asyncio.CancelledError):
            context.abort(grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down")
            raise
        if answer.status != 200:
            code = _CODES.get(answer.status, grpc.StatusCode.INTERNAL)
            context.abort(code, answer.body.decode("utf-8", "replace"))
        return answer.body


class _Gone(Exception):
    """The gateway's loop is closed: the call cannot be scored."""


async def _find_model(gateway: Gateway, request: Any, authorization: str | None) -> EndpointRuntime:
    principal = await gateway.verifier.principal(authorization)
    runtime = gateway.cache.runtimes.get(request.name)
    if runtime is None:
        raise NotFound(f"model {request.name[:60]!r} is not served here")
    may_call(principal, runtime.spec)
    if request.version and request.version != runtime.model.version:
        raise NotFound(
            f"model {request.name!r} is served at version "
            f"{runtime.model.version!r}, not {request.version[:40]!r}"
        )
    return runtime


def _metadata_response(runtime: EndpointRuntime) -> Any:
    doc = model_metadata(runtime)
    tensor = pb.ModelMetadataResponse.TensorMetadata
    return pb.ModelMetadataResponse(
        name=doc["name"],
        versions=doc["versions"],
        platform=doc["platform"],
        inputs=[tensor(**t) for t in doc["inputs"]],
        outputs=[tensor(**t) for t in doc["outputs"]],
    )


async def _score(
    gateway: Gateway, request: Any, authorization: str | None, given_id: str | None
) -> _Answer:
    answer = _Answer()
    await gateway.predict(
        request.model_name,
        authorization,
        None,
        _no_body,
        answer.send,
        gateway.next_request_id(given_id.encode("latin-1") if given_id else None),
        time.perf_counter(),
        dialect=GrpcDialect(request),
        version=request.model_version or None,
        path=_INFER_PATH,
    )
    return answer

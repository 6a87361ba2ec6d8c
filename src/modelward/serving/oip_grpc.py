"""The Open Inference Protocol v2 over gRPC: ``inference.GRPCInferenceService``.

The service of the protocol's published ``grpc_predict_v2.proto`` (checked in beside this
module, with its generated messages), served by ``grpc.aio`` on the gateway's event loop
(see :class:`GrpcInference` for why), on its own port
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

import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

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


def _metadata(context: grpc.aio.ServicerContext, *keys: str) -> list[str | None]:
    """The values of ``keys`` in the call's metadata (None where absent), in one pass."""
    found: list[str | None] = [None] * len(keys)
    for name, value in context.invocation_metadata() or ():
        if name in keys:
            found[keys.index(name)] = value if isinstance(value, str) else value.decode("latin-1")
    return found


class GrpcInference:
    """The gRPC port of one gateway (``gateway.attach(GrpcInference(gateway, ...))``):
    ``grpc.aio``'s server on the gateway's own event loop.

    Each call's handler is a coroutine on the loop, where it takes the same path as a REST
    request; there is no thread of ours per call and no hand-over between threads and the
    loop. Measured against grpcio's threaded server feeding the loop (which served the port
    before), with one C client (h2load) for both: about 1.2x the calls per second at 32 in
    flight, a lower p50 at 1, and half the context switches per call
    (benchmarks/protocols.py, docs/serving.md).

    Shutdown (the gateway's lifespan shutdown, before the model workers stop): the port
    stops taking calls, and the calls in flight finish within ``graceful_timeout_s`` (then
    grpc cancels them)."""

    def __init__(self, gateway: Gateway, host: str, port: int, max_message_bytes: int) -> None:
        self.gateway = gateway
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        limit = self.max_message_bytes
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                # every worker process of `modelward serve` listens on the same port
                ("grpc.so_reuseport", 1),
            ]
        )
        server.add_generic_rpc_handlers((self._handlers(),))
        self.port = server.add_insecure_port(f"{self.host}:{self.port}")
        await server.start()
        self._server = server
        _log.info("gRPC inference on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Refuse new calls and let those in flight finish (within the grace)."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(self.gateway.settings.graceful_timeout_s)

    def _handlers(self) -> grpc.GenericRpcHandler:
        def unary(call: Callable[[Any, Any], Awaitable[Any]], request: Any) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                call,
                request_deserializer=request.FromString,
                response_serializer=lambda m: m.SerializeToString(),
            )

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "ServerLive": unary(self._live, pb.ServerLiveRequest),
                "ServerReady": unary(self._ready, pb.ServerReadyRequest),
                "ServerMetadata": unary(self._server_metadata, pb.ServerMetadataRequest),
                "ModelReady": unary(self._model_ready, pb.ModelReadyRequest),
                "ModelMetadata": unary(self._model_metadata, pb.ModelMetadataRequest),
                # the answer is serialized by the dialect, on the scoring path
                "ModelInfer": grpc.unary_unary_rpc_method_handler(
                    self._infer, request_deserializer=pb.ModelInferRequest.FromString
                ),
            },
        )

    async def _live(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def _ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerReadyResponse(ready=self.gateway.ready and not self.gateway.cache.failed)

    async def _server_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerMetadataResponse(**server_metadata())

    async def _model(self, request: Any, context: grpc.aio.ServicerContext) -> EndpointRuntime:
        [authorization] = _metadata(context, "authorization")
        try:
            return await _find_model(self.gateway, request, authorization)
        except ModelwardError as exc:
            await context.abort(_CODES.get(exc.http_status, grpc.StatusCode.INTERNAL), exc.message)
            raise  # abort raises; this line tells the type checker so

    async def _model_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        runtime = await self._model(request, context)
        return pb.ModelReadyResponse(ready=self.gateway.ready and runtime.unavailable is None)

    async def _model_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return _metadata_response(await self._model(request, context))

    async def _infer(self, request: Any, context: grpc.aio.ServicerContext) -> bytes:
        authorization, given_id = _metadata(context, "authorization", "x-request-id")
        answer = await _score(self.gateway, request, authorization, given_id)
        if answer.status != 200:
            code = _CODES.get(answer.status, grpc.StatusCode.INTERNAL)
            await context.abort(code, answer.body.decode("utf-8", "replace"))
        return answer.body


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

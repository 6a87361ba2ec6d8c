"""The Open Inference Protocol's gRPC service on the gateway: a raw client and Triton's.

The server is the real ``grpc.aio`` one on a loopback port; the gateway behind it is the
fake-wired one of these tests, so the answers can be compared with the native route's.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from tritonclient.utils import InferenceServerException

from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving.gateway import Gateway
from modelward.serving.oip_grpc import GrpcInference
from modelward.serving.oip_proto import grpc_predict_v2_pb2 as pb
from tests.unit.serving.support import AUTH, FIELDS, GatewayFactory, World, row, serving, spec

TOKEN = [("authorization", AUTH["Authorization"])]
Tensor = pb.ModelInferRequest.InferInputTensor


def with_grpc(gateway: Gateway, max_message_bytes: int = 1 << 20) -> GrpcInference:
    service = GrpcInference(gateway, "127.0.0.1", 0, max_message_bytes)
    gateway.attach(service)
    return service


class Raw:
    """The protocol's service called with its own messages, no client library."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")

    async def call(self, method: str, request: Any, response: Any, metadata: Any = TOKEN) -> Any:
        stub = self.channel.unary_unary(
            f"/inference.GRPCInferenceService/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response.FromString,
        )
        return await stub(request, metadata=metadata)

    async def infer(self, request: Any, metadata: Any = TOKEN) -> Any:
        return await self.call("ModelInfer", request, pb.ModelInferResponse, metadata)


def fp64_request(values: list[float], model: str = "m") -> Any:
    n = len(values)
    return pb.ModelInferRequest(
        model_name=model,
        id="g-1",
        inputs=[
            Tensor(
                name=f,
                datatype="FP64",
                shape=[n],
                contents=pb.InferTensorContents(fp64_contents=values),
            )
            for f in FIELDS
        ],
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_grpc_serves_metadata_and_inference_like_the_native_route(
    make_gateway: GatewayFactory, sink: MemoryPredictionSink
) -> None:
    async def scenario() -> dict[str, Any]:
        gateway = make_gateway()
        service = with_grpc(gateway)
        async with serving(gateway) as http:
            raw = Raw(service.port)
            native = await http.post(
                "/v1/endpoints/m/predict", json={"inputs": [row(1.0), row(-1.0)]}, headers=AUTH
            )
            # raw little-endian contents, as Triton's clients send them
            packed = pb.ModelInferRequest(
                model_name="m",
                inputs=[Tensor(name="x", datatype="FP32", shape=[2, 4])],
                raw_input_contents=[np.array([[1.0] * 4, [-1.0] * 4], dtype="<f4").tobytes()],
            )
            got = {
                "native": native.json()["predictions"],
                "live": await raw.call(
                    "ServerLive", pb.ServerLiveRequest(), pb.ServerLiveResponse, None
                ),
                "ready": await raw.call(
                    "ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse, None
                ),
                "meta": await raw.call(
                    "ModelMetadata", pb.ModelMetadataRequest(name="m"), pb.ModelMetadataResponse
                ),
                "typed": await raw.infer(fp64_request([1.0, -1.0])),
                "raw": await raw.infer(packed),
            }
            await raw.channel.close()
            return got

    got = run(scenario())
    assert got["live"].live and got["ready"].ready
    assert [t.name for t in got["meta"].inputs] == list(FIELDS)
    typed = got["typed"]
    assert typed.model_name == "m" and typed.model_version == "3" and typed.id == "g-1"
    [output] = typed.outputs
    assert output.name == "prediction" and output.datatype == "FP64" and list(output.shape) == [2]
    assert np.frombuffer(typed.raw_output_contents[0], "<f8").tolist() == got["native"]
    assert typed.parameters["degraded"].bool_param is False
    from_raw = np.frombuffer(got["raw"].raw_output_contents[0], "<f8").tolist()
    assert from_raw == pytest.approx(got["native"])
    # both gRPC requests reached the prediction log, row by row
    logged = [r.request_id for r in sink.read("m")]
    assert len(logged) == 6
    assert typed.parameters["request_id"].string_param + "/0" in logged


def test_grpc_faults_answer_status_codes_that_name_the_problem(
    make_gateway: GatewayFactory, world: World
) -> None:
    world.put(spec("texts", request={"name": "string"}))

    async def scenario() -> dict[str, Any]:
        gateway = make_gateway(max_body_bytes=2048)
        service = with_grpc(gateway, max_message_bytes=2048)
        async with serving(gateway):
            raw = Raw(service.port)
            bad_utf8 = pb.ModelInferRequest(
                model_name="texts",
                inputs=[
                    Tensor(
                        name="name",
                        datatype="BYTES",
                        shape=[1],
                        contents=pb.InferTensorContents(bytes_contents=[b"\xff\xfe"]),
                    )
                ],
            )
            mismatch = fp64_request([1.0, 2.0])
            mismatch.inputs[1].shape[:] = [5]
            unknown = fp64_request([1.0])
            unknown.inputs[0].datatype = "COMPLEX64"
            stranger = fp64_request([1.0])
            stranger.inputs.append(
                Tensor(
                    name="zip",
                    datatype="INT64",
                    shape=[1],
                    contents=pb.InferTensorContents(int64_contents=[1]),
                )
            )
            huge = fp64_request([0.5] * 200)  # 4 tensors x 200 doubles: over 2 KiB
            torn = pb.ModelInferRequest(
                model_name="m",
                inputs=[Tensor(name="x", datatype="FP64", shape=[1, 4])],
                raw_input_contents=[b"\x00" * 31],  # 3 7/8 doubles
            )
            calls = {
                "no_auth": raw.infer(fp64_request([1.0]), metadata=None),
                "bad_token": raw.infer(
                    fp64_request([1.0]), metadata=[("authorization", "Bearer nope")]
                ),
                "meta_no_auth": raw.call(
                    "ModelMetadata",
                    pb.ModelMetadataRequest(name="m"),
                    pb.ModelMetadataResponse,
                    None,
                ),
                "bad_utf8": raw.infer(bad_utf8),
                "mismatch": raw.infer(mismatch),
                "unknown": raw.infer(unknown),
                "stranger": raw.infer(stranger),
                "huge": raw.infer(huge),
                "torn": raw.infer(torn),
                "missing": raw.infer(fp64_request([1.0], model="nope")),
            }
            got = {}
            for name, call in calls.items():
                try:
                    await call
                except grpc.aio.AioRpcError as exc:
                    got[name] = (exc.code(), exc.details())
                else:
                    got[name] = None
            await raw.channel.close()
            return got

    got = run(scenario())
    code = grpc.StatusCode
    assert got["no_auth"][0] == code.UNAUTHENTICATED and "Bearer" in got["no_auth"][1]
    assert got["bad_token"][0] == code.UNAUTHENTICATED
    assert got["meta_no_auth"][0] == code.UNAUTHENTICATED
    assert got["bad_utf8"] == (
        code.INVALID_ARGUMENT,
        "inference request to model 'texts' is invalid: inputs[0].data[0] a BYTES element "
        "must be UTF-8 text (byte 0 is not)",
    )
    assert got["mismatch"][0] == code.INVALID_ARGUMENT
    assert "inputs[1].data holds 2 elements but shape [5] says 5" in got["mismatch"][1]
    assert "unknown datatype 'COMPLEX64'" in got["unknown"][1]
    assert "'zip' is not an input of model 'm'" in got["stranger"][1]
    assert got["huge"][0] == code.RESOURCE_EXHAUSTED
    assert "31 bytes is not a whole number of FP64 elements" in got["torn"][1]
    assert got["missing"][0] == code.NOT_FOUND


def test_tritons_grpc_client_scores_the_endpoint_unchanged(
    make_gateway: GatewayFactory, classifier: Any
) -> None:
    """A third-party client of the protocol: typed inputs sent raw, outputs read back."""

    async def scenario() -> tuple[Any, Any, Any]:
        gateway = make_gateway()
        service = with_grpc(gateway)
        async with serving(gateway):
            client = triton_aio.InferenceServerClient(f"127.0.0.1:{service.port}")
            x = np.array([[1.0] * 4, [-1.0] * 4], dtype=np.float64)
            inputs = []
            for j, name in enumerate(FIELDS):
                tensor = triton.InferInput(name, [2], "FP64")
                tensor.set_data_from_numpy(x[:, j].copy())
                inputs.append(tensor)
            headers = {"authorization": AUTH["Authorization"]}
            live = await client.is_server_live()
            meta = await client.get_model_metadata("m", headers=headers, as_json=True)
            result = await client.infer("m", inputs, headers=headers, request_id="t-1")
            try:
                await client.infer("m", inputs)
            except InferenceServerException as exc:
                refused = exc
            await client.close()
            return live and meta, result, refused

    meta, result, refused = run(scenario())
    assert meta["name"] == "m"
    expected = classifier.predict_proba(np.array([[1.0] * 4, [-1.0] * 4]))[:, 1]
    assert result.as_numpy("prediction").tolist() == pytest.approx(expected.tolist())
    assert result.get_response().id == "t-1"
    assert "StatusCode.UNAUTHENTICATED" in str(refused.status())


class GatedModel:
    """Holds every call made once ``armed`` until ``release`` is set (``entered`` says one
    is held), so a test shuts the gateway down with calls provably in flight."""

    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict_proba(self, x: Any) -> Any:
        if self.armed.is_set():
            self.entered.set()
            self.release.wait(timeout=30)
        return np.tile([0.25, 0.75], (len(x), 1))


def test_grpc_calls_in_flight_at_shutdown_finish_and_the_port_leaves_no_thread(
    make_gateway: GatewayFactory, world: World, sink: MemoryPredictionSink
) -> None:
    gated = GatedModel()
    world.model("m@production", gated, "3")
    threads_before = set(threading.enumerate())

    async def scenario() -> dict[str, Any]:
        gateway = make_gateway()
        service = with_grpc(gateway)
        await gateway.startup()
        raw = Raw(service.port)
        gated.armed.set()
        calls = [asyncio.ensure_future(raw.infer(fp64_request([1.0]))) for _ in range(3)]
        assert await asyncio.to_thread(gated.entered.wait, 10), "no call reached the model"
        shutdown = asyncio.ensure_future(gateway.shutdown())
        # the port stops taking calls while the held ones are still in flight (a liveness
        # call, so a probe that got in before the stop is not itself held by the model)
        refused = None
        deadline = time.monotonic() + 10
        while refused is None and time.monotonic() < deadline:
            try:
                await raw.call("ServerLive", pb.ServerLiveRequest(), pb.ServerLiveResponse, None)
            except grpc.aio.AioRpcError as exc:
                refused = exc.code()
            await asyncio.sleep(0)
        in_flight_then = sum(not c.done() for c in calls)
        gated.release.set()
        answers = await asyncio.gather(*calls)
        await shutdown
        await raw.channel.close()
        return {"refused": refused, "in_flight": in_flight_then, "answers": answers}

    got = run(scenario())
    # grpcio refuses a call to a stopping server with one or the other, by how far the
    # stop got (the SIGTERM test accepts both too); never an answer
    assert got["refused"] in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    assert got["in_flight"] == 3  # all three were held when the port closed ...
    for answer in got["answers"]:  # ... and each was answered, not cancelled
        assert np.frombuffer(answer.raw_output_contents[0], "<f8").tolist() == [0.75]
    logged = [r.request_id for r in sink.read("m")]
    assert sorted(logged) == sorted(a.parameters["request_id"].string_param for a in got["answers"])
    # nothing the gateway and its port started outlives the shutdown
    assert [t.name for t in threading.enumerate() if t not in threads_before] == []

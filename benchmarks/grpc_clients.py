"""Python gRPC clients for ``protocols.py``: load through grpcio, and one checked call.

``--client python`` loads the gRPC port with these (``grpc.aio`` at c > 1, the blocking
client at c = 1); with ``--client h2load`` only :func:`check_answer` runs, once, so the
C client's load is known to get the gateway's real answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

__all__ = ["INFER", "check_answer", "grpc_aio_load", "grpc_sync_load", "infer_request"]

INFER = "/inference.GRPCInferenceService/ModelInfer"


def infer_request(values: list[float]) -> bytes:
    """One serialized ``ModelInferRequest``: a ``[1, n]`` FP64 tensor, raw contents."""
    from modelward.serving.oip_proto import grpc_predict_v2_pb2 as pb

    message = pb.ModelInferRequest(
        model_name="bench",
        inputs=[
            pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP64", shape=[1, len(values)])
        ],
        raw_input_contents=[np.asarray(values, dtype="<f8").tobytes()],
    )
    return bytes(message.SerializeToString())


def check_answer(port: int, token: str, request: bytes, expected: float) -> None:
    """One call through grpcio's client; raise unless it answers ``expected``."""
    import grpc

    from modelward.serving.oip_proto import grpc_predict_v2_pb2 as pb

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        infer = channel.unary_unary(INFER, response_deserializer=pb.ModelInferResponse.FromString)
        answer = infer(request, metadata=(("authorization", f"Bearer {token}"),), timeout=30)
    got = np.frombuffer(answer.raw_output_contents[0], dtype="<f8")
    if got.shape != (1,) or not np.isclose(got[0], expected):
        raise SystemExit(f"the gRPC answer {got.tolist()} is not the native route's {expected}")


def _summary(latencies: list[float], elapsed: float, failed: int, client: str) -> dict[str, Any]:
    latencies.sort()

    def pct(q: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000.0

    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "requests": len(latencies),
        "non_2xx": failed,
        "client": client,
    }


async def _aio_load(
    port: int, token: str, request: bytes, conns: int, duration_s: float
) -> dict[str, Any]:
    import grpc

    metadata = (("authorization", f"Bearer {token}"),)
    latencies: list[float] = []
    failed = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        infer = channel.unary_unary(INFER)
        await infer(request, metadata=metadata)  # connect before the clock starts
        stop_at = time.perf_counter() + duration_s

        async def one() -> None:
            nonlocal failed
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    await infer(request, metadata=metadata)
                except grpc.aio.AioRpcError:
                    failed += 1
                    continue
                latencies.append(time.perf_counter() - t0)

        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(conns)))
        elapsed = time.perf_counter() - began
    return _summary(latencies, elapsed, failed, "grpc.aio")


def grpc_aio_load(
    port: int, token: str, request: bytes, conns: int, duration_s: float
) -> dict[str, Any]:
    """``conns`` calls in flight on one ``grpc.aio`` channel for ``duration_s`` seconds."""
    return asyncio.run(_aio_load(port, token, request, conns, duration_s))


def grpc_sync_load(port: int, token: str, request: bytes, duration_s: float) -> dict[str, Any]:
    """One caller, blocking unary calls: gRPC's C core without an event loop in the way."""
    import grpc

    metadata = (("authorization", f"Bearer {token}"),)
    latencies: list[float] = []
    failed = 0
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        infer = channel.unary_unary(INFER)
        infer(request, metadata=metadata)
        began = time.perf_counter()
        stop_at = began + duration_s
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            try:
                infer(request, metadata=metadata)
            except grpc.RpcError:
                failed += 1
                continue
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - began
    return _summary(latencies, elapsed, failed, "grpc (blocking)")

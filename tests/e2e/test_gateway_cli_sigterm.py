"""``modelward serve`` as a real process: ready, serving under load, SIGTERM loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelward.config import Workspace
from modelward.monitoring.predictions import open_prediction_sink
from modelward.session import Session
from tests.integration.flows.test_gateway_churn import build_churn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

# Mounts `endpoints` and `serve` if cli/app.py does not register them (yet), then runs the
# real entry point, so the test drives exactly what `modelward serve` runs.
LAUNCH = """
import importlib
import sys
root = importlib.import_module("modelward.cli.app")
from modelward.cli import endpoints, gateway
register = root._register
def wired():
    register()
    names = {c.name for c in root.app.registered_commands}
    names |= {g.name for g in root.app.registered_groups}
    if "serve" not in names:
        gateway.register(root.app)
    if "endpoints" not in names:
        root.app.add_typer(endpoints.app, name="endpoints")
root._register = wired
root.main(sys.argv[1:])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    root: Path, port: int, workers: int, log: Path, grpc_port: int = 0
) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")},
        "MODELWARD_WORKSPACE": str(root),
        "MODELWARD_IDENTITY__USER": "tester",
        "MODELWARD_SERVING__GRACEFUL_TIMEOUT_S": "20",
        "MODELWARD_SERVING__GRPC_PORT": str(grpc_port),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "serve", "--port", str(port), "--workers", str(workers)],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"serve was not ready within {timeout_s} s:\n{log.read_text()[-3000:]}")


async def load_until_refused(
    base: str, token: str, proc: subprocess.Popen[bytes], grpc_port: int = 0
) -> list[str]:
    """16 clients (half of them on gRPC if its port is on) call until the server refuses;
    SIGTERM goes out after 400 answers. The ids of the answered requests."""
    answered: list[str] = []
    grpc_answered: list[int] = []
    grpc_refusals: list[tuple[object, str | None]] = []
    stop = asyncio.Event()
    auth = {"Authorization": f"Bearer {token}"}

    def answers_counted() -> None:
        if len(answered) >= 400 and proc.poll() is None and not stop.is_set():
            proc.send_signal(signal.SIGTERM)
            stop.set()

    async def grpc_client(i: int) -> None:
        import grpc

        from modelward.serving.oip_proto import grpc_predict_v2_pb2 as pb

        tensor = pb.ModelInferRequest.InferInputTensor
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            infer = channel.unary_unary(
                "/inference.GRPCInferenceService/ModelInfer",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=pb.ModelInferResponse.FromString,
            )
            n = 0
            while True:  # past the SIGTERM: calls in flight while the port stops must finish
                n += 1
                contents = pb.InferTensorContents
                request = pb.ModelInferRequest(
                    model_name="churn",
                    inputs=[
                        tensor(
                            name="customer_id",
                            datatype="INT64",
                            shape=[1],
                            contents=contents(int64_contents=[1 + (i * 89 + n) % 2000]),
                        ),
                        tensor(
                            name="email",
                            datatype="BYTES",
                            shape=[1],
                            contents=contents(bytes_contents=[b"g@example.com"]),
                        ),
                        tensor(
                            name="discount",
                            datatype="FP64",
                            shape=[1],
                            contents=contents(fp64_contents=[0.1]),
                        ),
                    ],
                )
                try:
                    got = await infer(request, metadata=(("authorization", auth["Authorization"]),))
                except grpc.aio.AioRpcError as exc:
                    # the port stopped taking calls: a call that reached no handler before
                    # it closed is refused (UNAVAILABLE, or CANCELLED when it arrived as the
                    # port closed); anything else is a failure
                    grpc_refusals.append((exc.code(), exc.details()))
                    return
                answered.append(got.parameters["request_id"].string_param)
                grpc_answered.append(1)
                answers_counted()

    async def client(i: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10.0) as http:
            n = 0
            while not stop.is_set():
                n += 1
                body = {
                    "inputs": {
                        "customer_id": 1 + (i * 97 + n) % 2000,
                        "email": "x@example.com",
                        "discount": 0.1,
                    }
                }
                try:
                    r = await http.post("/v1/endpoints/churn/predict", json=body, headers=auth)
                except httpx.TransportError:
                    return  # the server stopped accepting: this client is done
                if r.status_code == 200:
                    answered.append(r.json()["request_id"])
                answers_counted()

    clients = [client(i) for i in range(8 if grpc_port else 16)]
    clients += [grpc_client(i) for i in range(8 if grpc_port else 0)]
    await asyncio.wait_for(asyncio.gather(*clients), timeout=120)
    if grpc_port:
        import grpc

        assert grpc_answered, "no gRPC call was answered"
        refused = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
        assert all(code in refused for code, _ in grpc_refusals), grpc_refusals
    return answered


# two workers are run with the gRPC port on, beside HTTP clients: that case holds the
# HTTP-only one on two workers (each case is about half a minute of a CI worker)
@pytest.mark.parametrize(("workers", "with_grpc"), [(1, False), (2, True)])
def test_sigterm_under_load_loses_no_prediction_log_entry(
    sqlite_workspace: Workspace, tmp_path: Path, workers: int, with_grpc: bool
) -> None:
    with Session(sqlite_workspace) as session:
        churn = build_churn(session, rows=2_000, trees=20)
    root = sqlite_workspace.root
    port = free_port()
    grpc_port = free_port() if with_grpc else 0
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = start(root, port, workers, log, grpc_port)
    try:
        wait_ready(proc, base, log)
        auth = {"Authorization": f"Bearer {churn.token}"}
        body = {"inputs": {"customer_id": 5, "email": "e@example.com", "discount": 0.2}}
        first = httpx.post(f"{base}/v1/endpoints/churn/predict", json=body, headers=auth)
        assert first.status_code == 200 and first.json()["degraded"] is False
        metrics = httpx.get(f"{base}/metrics").text  # any worker reports all of them
        assert (
            'modelward_gateway_requests_total{endpoint="churn",model_version="1",status="200"}'
            in (metrics)
        )
        assert "modelward_gateway_feature_fetch_seconds_bucket" in metrics
        answered = asyncio.run(load_until_refused(base, churn.token, proc, grpc_port))
        answered.append(first.json()["request_id"])
        # uvicorn re-raises SIGTERM once its graceful shutdown is complete
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM), log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(answered) >= 400
    sink = open_prediction_sink(sqlite_workspace.settings.serving.prediction_log, root)
    logged = [r.request_id for r in sink.read("churn")]
    sink.close()
    missing = set(answered) - set(logged)
    assert not missing, f"{len(missing)} answered requests are not in the prediction log"
    assert len(logged) == len(set(logged))
    lines = log.read_text()
    assert "Application shutdown complete" in lines
    assert '"msg":"request"' in lines  # the JSON access log, written off the request path

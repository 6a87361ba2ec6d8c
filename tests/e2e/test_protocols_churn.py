"""``modelward serve`` speaks the ecosystem's protocols: clients written for Triton / KServe
(the Open Inference Protocol, REST and gRPC) and for ``mlflow models serve`` score the
churn endpoint unchanged, with the workspace's real token, features and prediction log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelward.config import Workspace
from modelward.monitoring.predictions import open_prediction_sink
from modelward.session import Session
from tests.e2e.test_gateway_cli_sigterm import LAUNCH, free_port, wait_ready
from tests.integration.flows.test_gateway_churn import build_churn, expected

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

IDS = [1, 2, 3]
DISCOUNT = 0.1


def serve(root: Path, port: int, grpc_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")},
        "MODELWARD_WORKSPACE": str(root),
        "MODELWARD_IDENTITY__USER": "tester",
        "MODELWARD_SERVING__GRPC_PORT": str(grpc_port),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "serve", "--port", str(port), "--workers", "1"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def triton_inputs(module: object) -> list[object]:
    """The churn request as three typed tensors, one per request field."""
    columns = {
        "customer_id": ("INT64", np.array(IDS, dtype=np.int64)),
        "email": ("BYTES", np.array([b"a@example.com"] * len(IDS), dtype=np.object_)),
        "discount": ("FP64", np.full(len(IDS), DISCOUNT)),
    }
    inputs = []
    for name, (datatype, values) in columns.items():
        tensor = module.InferInput(name, [len(IDS)], datatype)  # type: ignore[attr-defined]
        if module.__name__.endswith("http"):  # type: ignore[attr-defined]
            tensor.set_data_from_numpy(values, binary_data=False)
        else:
            tensor.set_data_from_numpy(values)
        inputs.append(tensor)
    return inputs


def test_triton_and_mlflow_clients_score_the_churn_endpoint_unchanged(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    import tritonclient.grpc as triton_grpc
    import tritonclient.http as triton_http

    with Session(sqlite_workspace) as session:
        churn = build_churn(session, rows=300, trees=5)
        want = [expected(churn, i, DISCOUNT) for i in IDS]
    port, grpc_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = serve(sqlite_workspace.root, port, grpc_port, log)
    auth = {"authorization": f"Bearer {churn.token}"}
    try:
        wait_ready(proc, base, log)
        # the Open Inference Protocol over REST, with Triton's HTTP client
        http = triton_http.InferenceServerClient(f"127.0.0.1:{port}")
        assert http.is_server_live() and http.is_server_ready()
        meta = http.get_model_metadata("churn", headers=auth)
        assert [t["name"] for t in meta["inputs"]] == ["customer_id", "email", "discount"]
        outputs = [triton_http.InferRequestedOutput("prediction", binary_data=False)]
        answer = http.infer("churn", triton_inputs(triton_http), outputs=outputs, headers=auth)
        assert answer.as_numpy("prediction").tolist() == pytest.approx(want)
        http.close()

        # ... and over gRPC, on serving.grpc_port, with Triton's gRPC client
        grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        assert grpc.is_server_live() and grpc.is_model_ready("churn", headers=auth)
        answer = grpc.infer("churn", triton_inputs(triton_grpc), headers=auth, request_id="g")
        assert answer.as_numpy("prediction").tolist() == pytest.approx(want)
        with pytest.raises(triton_grpc.InferenceServerException, match="UNAUTHENTICATED"):
            grpc.infer("churn", triton_inputs(triton_grpc))
        grpc.close()

        # MLflow's documented scoring payloads, as a client of `mlflow models serve` sends them
        records = [{"customer_id": i, "email": "a@example.com", "discount": DISCOUNT} for i in IDS]
        payloads = [
            {
                "dataframe_split": {
                    "columns": ["customer_id", "email", "discount"],
                    "data": [[i, "a@example.com", DISCOUNT] for i in IDS],
                }
            },
            {"dataframe_records": records},
            {"instances": records},
            {"inputs": {"customer_id": IDS, "email": ["a@example.com"] * 3, "discount": [0.1] * 3}},
        ]
        assert httpx.get(f"{base}/ping").status_code == 200
        for payload in payloads:
            scored = httpx.post(f"{base}/invocations", json=payload, headers=auth)
            assert scored.status_code == 200, scored.text
            assert scored.json()["predictions"] == pytest.approx(want)
        wrong = httpx.post(
            f"{base}/invocations",
            json={"dataframe_records": [{**records[0], "discount": "ten percent"}]},
            headers=auth,
        )
        assert wrong.status_code == 422 and "dataframe_records[0].discount" in wrong.text
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    # uvicorn exits by re-raising the SIGTERM it handled, once shut down cleanly
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Application shutdown complete" in log.read_text()
    # every protocol's rows are in the prediction log, PII redacted as on the native route
    sink = open_prediction_sink(
        sqlite_workspace.settings.serving.prediction_log, sqlite_workspace.root
    )
    logged = sink.read("churn")
    sink.close()
    answered = [r for r in logged if r.role != "rejected"]
    assert len(answered) == 3 * (2 + len(payloads))
    # the refused MLflow request is logged once, for the staging gate, with no prediction
    (refused,) = [r for r in logged if r.role == "rejected"]
    assert refused.prediction is None and "discount" in refused.error
    assert {r.inputs["email"] for r in logged} == {"[redacted]"}

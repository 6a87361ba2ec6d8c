"""The Open Inference Protocol (REST) on the gateway, over ASGI: answers equal the native
route's, errors in the protocol's body."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving.gateway import Gateway
from modelward.serving.mlflow_scoring import MlflowRoutes
from modelward.serving.oip_rest import OipRoutes
from tests.unit.serving.support import AUTH, FIELDS, GatewayFactory, World, row, run, serving, spec

NAMES = list(FIELDS)


def protocols(gateway: Gateway, default_endpoint: str = "") -> Gateway:
    """Mounted as create_gateway mounts them."""
    gateway.mount(OipRoutes())
    gateway.mount(MlflowRoutes(default_endpoint))
    return gateway


def tensors(values: list[float]) -> list[dict[str, Any]]:
    n = len(values)
    return [{"name": f, "datatype": "FP64", "shape": [n], "data": values} for f in NAMES]


def test_oip_health_metadata_and_inference_answer_like_the_native_route(
    make_gateway: GatewayFactory, sink: MemoryPredictionSink, classifier: Any
) -> None:
    async def scenario() -> dict[str, Any]:
        async with serving(protocols(make_gateway())) as http:
            return {
                "server": await http.get("/v2"),
                "live": await http.get("/v2/health/live"),
                "ready": await http.get("/v2/health/ready"),
                "meta": await http.get("/v2/models/m", headers=AUTH),
                "meta_v": await http.get("/v2/models/m/versions/3", headers=AUTH),
                "model_ready": await http.get("/v2/models/m/ready", headers=AUTH),
                "per_field": await http.post(
                    "/v2/models/m/infer",
                    json={"id": "q-1", "inputs": tensors([1.0, -1.0])},
                    headers={**AUTH, "X-Request-ID": "rid-1"},
                ),
                "matrix": await http.post(
                    "/v2/models/m/versions/3/infer",
                    json={
                        "inputs": [
                            {
                                "name": "x",
                                "datatype": "FP32",
                                "shape": [1, 4],
                                "data": [[1, 1, 1, 1]],
                            }
                        ]
                    },
                    headers=AUTH,
                ),
                "native": await http.post(
                    "/v1/endpoints/m/predict", json={"inputs": [row(1.0), row(-1.0)]}, headers=AUTH
                ),
                "metrics": await http.get("/metrics"),
            }

    got = run(scenario())
    assert got["server"].json()["name"] == "modelward"
    assert got["live"].json() == {"live": True}
    assert got["ready"].status_code == 200 and got["ready"].json() == {"ready": True}
    meta = got["meta"].json()
    assert meta["name"] == "m" and meta["versions"] == ["3"]
    assert meta["inputs"] == [{"name": f, "datatype": "FP64", "shape": [-1]} for f in NAMES]
    assert meta["outputs"] == [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]
    assert got["meta_v"].json() == meta
    assert got["model_ready"].json() == {"name": "m", "ready": True}

    answer = got["per_field"]
    assert answer.status_code == 200, answer.text
    body = answer.json()
    native = got["native"].json()["predictions"]
    assert body["model_name"] == "m" and body["model_version"] == "3" and body["id"] == "q-1"
    assert body["parameters"] == {"request_id": "rid-1", "degraded": False}
    assert body["outputs"] == [
        {"name": "prediction", "datatype": "FP64", "shape": [2], "data": native}
    ]
    expected = classifier.predict_proba(np.full((1, 4), 1.0))[0, 1]
    assert got["matrix"].json()["outputs"][0]["data"] == [expected]
    # the same prediction log and metrics as the native route
    logged = [r.request_id for r in sink.read("m")]
    assert logged[:2] == ["rid-1/0", "rid-1/1"] and len(logged) == 5
    assert 'status="200"} 3.0' in got["metrics"].text


def test_oip_errors_are_the_protocols_error_body_with_the_native_status(
    make_gateway: GatewayFactory, world: World
) -> None:
    world.put(spec("private", callers=["carol"]))
    world.put(spec("texts", request={"name": "string"}))

    async def scenario() -> list[Any]:
        async with serving(protocols(make_gateway())) as http:
            shape = tensors([1.0, 2.0])
            shape[0]["shape"] = [3]
            surrogate = (
                b'{"inputs": [{"name": "name", "datatype": "BYTES", "shape": [1], '
                b'"data": ["\\ud800"]}]}'
            )
            return [
                await http.post("/v2/models/m/infer", json={"inputs": tensors([1.0])}),
                await http.get("/v2/models/private", headers=AUTH),
                await http.get("/v2/models/nope", headers=AUTH),
                await http.get("/v2/models/m/versions/9", headers=AUTH),
                await http.post("/v2/models/m/infer", json={"inputs": shape}, headers=AUTH),
                await http.post("/v2/models/m/infer", content=b"{\xff}", headers=AUTH),
                await http.post("/v2/models/texts/infer", content=surrogate, headers=AUTH),
                await http.get("/v2/models/m/infer", headers=AUTH),
                await http.post(
                    "/v2/models/m/versions/9/infer", json={"inputs": tensors([1.0])}, headers=AUTH
                ),
            ]

    unauth, denied, missing, version, shape, utf8, surrogate, method, pinned = run(scenario())
    assert unauth.status_code == 401 and "Bearer" in unauth.json()["error"]
    assert denied.status_code == 403 and "not among its callers" in denied.json()["error"]
    assert missing.status_code == 404 and "'nope'" in missing.json()["error"]
    assert version.status_code == 404 and "not '9'" in version.json()["error"]
    assert shape.status_code == 422
    assert shape.json() == {
        "error": "inference request to model 'm' is invalid: inputs[0].data holds 2 elements "
        "but shape [3] says 3"
    }
    assert utf8.status_code == 400 and "not valid JSON" in utf8.json()["error"]
    # JSON carries no invalid UTF-8: a lone surrogate escape is the text UTF-8 cannot encode
    assert surrogate.status_code == 422
    assert "inputs[0].name must be valid Unicode text" in surrogate.json()["error"]
    assert method.status_code == 405 and set(method.json()) == {"error"}
    assert pinned.status_code == 404 and "serves model version '3'" in pinned.json()["error"]

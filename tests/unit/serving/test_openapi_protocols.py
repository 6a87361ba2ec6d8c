"""The OpenAPI paths of the protocols on the gateway: the Open Inference Protocol's REST
operations match the protocol's own definition."""

from __future__ import annotations

from typing import Any

from modelward.serving.gateway import Gateway
from modelward.serving.mlflow_scoring import MlflowRoutes
from modelward.serving.oip_rest import OipRoutes
from tests.unit.serving.support import AUTH, FIELDS, GatewayFactory, run, serving

NAMES = list(FIELDS)


def protocols(gateway: Gateway, default_endpoint: str = "") -> Gateway:
    """Mounted as create_gateway mounts them."""
    gateway.mount(OipRoutes())
    gateway.mount(MlflowRoutes(default_endpoint))
    return gateway


def tensors(values: list[float]) -> list[dict[str, Any]]:
    n = len(values)
    return [{"name": f, "datatype": "FP64", "shape": [n], "data": values} for f in NAMES]


# The protocol's REST documents, as its specification defines them (KServe's
# "Open Inference Protocol (V2 Inference Protocol)"): required members and their types.
_TENSOR_METADATA = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}


OIP_SCHEMAS: dict[str, dict[str, Any]] = {
    "server_metadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "model_metadata": {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _TENSOR_METADATA},
            "outputs": {"type": "array", "items": _TENSOR_METADATA},
        },
    },
    "inference_response": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "datatype": {"type": "string"},
                        "parameters": {"type": "object"},
                        "data": {"type": "array"},
                    },
                },
            },
        },
    },
    "error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {"error": {"type": "string"}},
    },
    "health": {"type": "object"},
}


def test_oip_rest_documents_match_the_protocols_definition(make_gateway: GatewayFactory) -> None:
    import jsonschema

    async def scenario() -> list[tuple[str, Any]]:
        async with serving(protocols(make_gateway())) as http:
            one_row = {"inputs": tensors([0.5])}
            return [
                ("server_metadata", await http.get("/v2")),
                ("health", await http.get("/v2/health/ready")),
                ("model_metadata", await http.get("/v2/models/m", headers=AUTH)),
                (
                    "inference_response",
                    await http.post("/v2/models/m/infer", json=one_row, headers=AUTH),
                ),
                ("error", await http.post("/v2/models/m/infer", json={"inputs": []}, headers=AUTH)),
                ("error", await http.get("/v2/models/m")),
                ("error", await http.get("/v2/models/m/nothing", headers=AUTH)),
            ]

    for schema, answer in run(scenario()):
        assert answer.headers["content-type"] == "application/json"
        jsonschema.validate(answer.json(), OIP_SCHEMAS[schema])

"""The gateway's OpenAPI document: per-endpoint request schemas, and schemathesis over it.

The document is generated from the endpoints served (their request fields and rules), so
schemathesis's generated bodies are the ones a client would send: every valid one must be
answered 200 (a degraded answer is still a 200), every invalid one refused with the
problem document declared, and the token must be enforced.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from modelward.serving.endpoints import Fallback
from tests.unit.serving.support import (
    AUTH,
    ConstantModel,
    GatewayFactory,
    World,
    run,
    serving,
    spec,
)

EXAMPLES = 10
CONFIG = {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx"]}}}

pytestmark = pytest.mark.xdist_group("schemathesis")


def _endpoints(world: World) -> None:
    # a model that reads no value: what is under test is the gateway's protocol (a real
    # classifier fed 1e308 warns of an overflow, which the test run turns into an error)
    world.model("m@production", ConstantModel(0.3), "3")
    world.put(
        spec(
            name="typed",
            model="m@production",
            request={"f0": "float", "f1": "float", "f2": "float", "f3": "float"},
            max_rows=4,
            fallback=Fallback(response=0.0),
        )
    )


def test_each_endpoint_has_its_own_request_schema(
    make_gateway: GatewayFactory, world: World
) -> None:
    _endpoints(world)

    async def scenario() -> Any:
        async with serving(make_gateway()) as http:
            return (await http.get("/openapi.json")).json()

    doc = run(scenario())
    assert set(doc["paths"]) >= {"/v1/endpoints/m/predict", "/v1/endpoints/typed/predict"}
    operation = doc["paths"]["/v1/endpoints/typed/predict"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    one, batch = body["properties"]["inputs"]["oneOf"]
    assert one["required"] == ["f0", "f1", "f2", "f3"] and one["additionalProperties"] is False
    assert one["properties"]["f0"]["type"] == "number"
    assert batch["maxItems"] == 4
    for status in ("400", "401", "403", "413", "422", "503"):
        assert list(operation["responses"][status]["content"]) == ["application/problem+json"]


@pytest.fixture
def gateway_schema(make_gateway: GatewayFactory, world: World) -> Any:
    _endpoints(world)
    gateway = make_gateway()
    config = SchemathesisConfig.from_dict(CONFIG)
    # schemathesis runs the gateway's lifespan (start-up loads the endpoints) on the first
    # request, the document's, and ends it when the test ends
    return schemathesis.openapi.from_asgi("/openapi.json", gateway, config=config)


schema = schemathesis.pytest.from_fixture("gateway_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis' lazy loader renames each sub-test through `node._nodeid`, an attribute
    # pytest 9 no longer has; give it the node's id to start from
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_gateway_conforms_to_its_openapi(case: Any) -> None:
    case.call_and_validate(headers=AUTH)


# --- the protocols mounted on the gateway: OIP v2 and MLflow scoring ------------------------

#: a tensor's element count against its shape, and an MLflow split row or column against
#: its columns, are rules JSON Schema cannot state: a body the schema allows may still be
#: answered 422 naming the tensor or the row (never 400 or 5xx); every other check is strict
PROTOCOL_CONFIG = {
    **CONFIG,
    "operations": [
        {
            "include-path-regex": "(/infer|/invocations)$",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "422"]}},
        }
    ],
}


def _with_protocols(gateway: Any) -> Any:
    from modelward.serving.mlflow_scoring import MlflowRoutes
    from modelward.serving.oip_rest import OipRoutes

    gateway.mount(OipRoutes())
    gateway.mount(MlflowRoutes("typed"))
    return gateway


def test_the_document_declares_the_protocols_routes_with_their_own_error_shapes(
    make_gateway: GatewayFactory, world: World
) -> None:
    _endpoints(world)

    async def scenario() -> Any:
        async with serving(_with_protocols(make_gateway())) as http:
            doc = (await http.get("/openapi.json")).json()
            example = doc["paths"]["/v2/models/typed/infer"]["post"]["requestBody"]
            body = example["content"]["application/json"]["example"]
            scored = await http.post("/v2/models/typed/infer", json=body, headers=AUTH)
            mlflow = doc["paths"]["/invocations"]["post"]["requestBody"]
            split = mlflow["content"]["application/json"]["example"]
            invoked = await http.post("/invocations", json=split, headers=AUTH)
            return doc, scored, invoked

    doc, scored, invoked = run(scenario())
    paths = doc["paths"]
    assert {
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/typed",
        "/v2/models/typed/ready",
        "/v2/models/typed/infer",
        "/v2/models/typed/versions/3",
        "/v2/models/typed/versions/3/ready",
        "/v2/models/typed/versions/3/infer",
        "/invocations",
        "/v1/endpoints/typed/invocations",
        "/v1/endpoints/m/invocations",
        "/ping",
        "/health",
        "/version",
    } <= set(paths)
    infer = paths["/v2/models/typed/infer"]["post"]
    tensor = infer["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert tensor["inputs"]["items"]["properties"]["datatype"]["enum"][-1] == "BYTES"
    assert infer["responses"]["422"]["content"]["application/json"]["schema"]["required"] == [
        "error"
    ]
    invocations = paths["/invocations"]["post"]["responses"]
    assert invocations["422"]["content"]["application/json"]["schema"]["required"] == [
        "error_code",
        "message",
    ]
    assert "security" not in paths["/v2/health/ready"]["get"]
    # the documented examples are real requests: they score
    assert scored.status_code == 200 and scored.json()["outputs"][0]["name"] == "prediction"
    assert invoked.status_code == 200 and invoked.json() == {"predictions": [0.3]}


@pytest.fixture
def protocols_schema(make_gateway: GatewayFactory, world: World) -> Any:
    _endpoints(world)
    gateway = _with_protocols(make_gateway())
    config = SchemathesisConfig.from_dict(PROTOCOL_CONFIG)
    return schemathesis.openapi.from_asgi("/openapi.json", gateway, config=config)


protocols = schemathesis.pytest.from_fixture("protocols_schema")


@pytest.mark.slow
@protocols.include(path_regex="^/(v2|invocations|ping|health|version)|/invocations$").parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_protocols_conform_to_the_gateway_document(case: Any) -> None:
    case.call_and_validate(headers=AUTH)

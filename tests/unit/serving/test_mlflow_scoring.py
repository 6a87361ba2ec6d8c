"""MLflow's scoring format on the gateway, over ASGI: every layout answers the native
predictions; bad columns are 422 naming the column."""

from __future__ import annotations

from typing import Any

import pytest

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


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": NAMES, "data": [[1.0] * 4, [-1.0] * 4], "index": [0, 1]}},
        {"dataframe_records": [row(1.0), row(-1.0)]},
        {"instances": [row(1.0), row(-1.0)]},
        {"instances": [[1.0] * 4, [-1.0] * 4]},
        {"inputs": {f: [1.0, -1.0] for f in NAMES}, "params": {}},
    ],
    ids=["split", "records", "instances", "instances-rows", "inputs-columns"],
)
def test_mlflow_scoring_layouts_all_answer_the_native_predictions(
    make_gateway: GatewayFactory, body: dict[str, Any]
) -> None:
    async def scenario() -> list[Any]:
        async with serving(protocols(make_gateway())) as http:
            return [
                await http.post("/invocations", json=body, headers=AUTH),
                await http.post("/v1/endpoints/m/invocations", json=body, headers=AUTH),
                await http.post(
                    "/v1/endpoints/m/predict", json={"inputs": [row(1.0), row(-1.0)]}, headers=AUTH
                ),
                await http.get("/ping"),
                await http.get("/version"),
            ]

    default, named, native, ping, version = run(scenario())
    assert version.status_code == 200 and version.text
    assert default.status_code == 200, default.text
    assert default.json() == {"predictions": native.json()["predictions"]}
    assert named.json() == default.json()
    assert ping.status_code == 200


def test_mlflow_wrong_columns_or_types_are_422_naming_the_column(
    make_gateway: GatewayFactory, world: World
) -> None:
    async def scenario() -> list[Any]:
        async with serving(protocols(make_gateway())) as http:
            post = http.post
            renamed = {
                "dataframe_split": {"columns": ["f0", "f1", "f2", "tenure"], "data": [[1.0] * 4]}
            }
            typed = {"dataframe_records": [{**row(), "f2": "high"}]}
            both = {"instances": [row()], "inputs": [row()]}
            world.put(spec("other"))
            return [
                await post("/invocations", json=renamed, headers=AUTH),
                await post("/invocations", json=typed, headers=AUTH),
                await post("/invocations", json=both, headers=AUTH),
                await post(
                    "/invocations",
                    content=b"f0,f1\n1,2",
                    headers={**AUTH, "content-type": "text/csv"},
                ),
                await post("/invocations", json={"dataframe_records": [row()]}),
            ]

    renamed, typed, both, csv, unauth = run(scenario())
    assert renamed.status_code == 422
    doc = renamed.json()
    assert doc["error_code"] == "INVALID_PARAMETER_VALUE"
    assert {
        "field": "dataframe_split[0].tenure",
        "rule": "is not a request field of endpoint 'm'",
    } in doc["errors"]
    assert {"field": "dataframe_split[0].f3", "rule": "is required"} in doc["errors"]
    assert typed.status_code == 422
    assert typed.json()["errors"] == [
        {"field": "dataframe_records[0].f2", "rule": "must be a finite number"}
    ]
    assert both.status_code == 422 and "exactly one of" in both.json()["message"]
    assert csv.status_code == 400 and "text/csv" in csv.json()["message"]
    assert unauth.status_code == 401 and unauth.json()["error_code"] == "UNAUTHENTICATED"


def test_mlflow_invocations_needs_a_default_when_several_endpoints_are_served(
    make_gateway: GatewayFactory, world: World
) -> None:
    world.put(spec("other"))

    async def scenario(default: str) -> Any:
        async with serving(protocols(make_gateway(), default)) as http:
            return await http.post(
                "/invocations", json={"dataframe_records": [row()]}, headers=AUTH
            )

    refused = run(scenario(""))
    assert refused.status_code == 404
    assert "set serving.default_endpoint" in refused.json()["message"]
    assert run(scenario("other")).status_code == 200


def test_mlflow_health_routes_answer_get_only_and_oip_says_what_it_allows(
    make_gateway: GatewayFactory,
) -> None:
    # MLflow's server serves /ping, /health and /version on GET; another method is a 405
    async def scenario() -> list[Any]:
        async with serving(protocols(make_gateway())) as http:
            return [
                await http.post("/ping"),
                await http.delete("/version"),
                await http.get("/invocations"),
                await http.post("/v2/health/live"),
                await http.get("/v2/models/m/infer", headers=AUTH),
            ]

    ping, version, invocations, live, infer = run(scenario())
    for answer, allow in ((ping, "GET, HEAD"), (version, "GET, HEAD"), (invocations, "POST")):
        assert answer.status_code == 405 and answer.headers["allow"] == allow
        assert "accepts" in answer.json()["message"]
    assert live.status_code == 405 and live.headers["allow"] == "GET"
    assert infer.status_code == 405 and infer.headers["allow"] == "POST"
    assert "accepts POST only" in infer.json()["error"]

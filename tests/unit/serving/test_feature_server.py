"""The feature server: Feast's request and answer shape, the gateway's token, TTL and PII rules."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from starlette.testclient import TestClient

from modelward.errors import Unauthenticated
from modelward.features import Catalog, Entity, Feature, FeatureLookup, FeatureView, Record
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.packing import entity_key, pack, to_us
from modelward.security.roles import Principal, Role
from modelward.serving.auth import TokenVerifier
from modelward.serving.feature_server import FEATURE_PATH, create_feature_server
from tests.unit.features.support import make_density, make_stats_view, write_stats

TOKENS = {
    "tok-viewer": Principal("vic", Role.VIEWER),
    "tok-admin": Principal("ada", Role.ADMIN),
}
VIEWER = {"Authorization": "Bearer tok-viewer"}
ADMIN = {"Authorization": "Bearer tok-admin"}
NOW = datetime.now(UTC)


def authenticate(token: str) -> Principal:
    try:
        return TOKENS[token]
    except KeyError:
        raise Unauthenticated("the API token is not valid") from None


class FlakyStore(MemoryOnlineStore):
    down = False

    def read(self, namespace: str, keys: Sequence[str]) -> list[Record | None]:
        if self.down:
            raise ConnectionError("redis://10.0.0.9:6379 refused")  # a driver's own error
        return super().read(namespace, keys)


@pytest.fixture
def store(tmp_path: Path) -> tuple[FlakyStore, Catalog]:
    stats = make_stats_view(write_stats(tmp_path / "stats.parquet"))  # TTL 2 h
    people = FeatureView(
        "people",
        entities=[Entity("driver", ["driver_id"])],
        source=str(tmp_path / "stats.parquet"),
        features=[Feature("email", "string", pii=True), Feature("age", "int64")],
    )
    store = FlakyStore()
    kinds = ["int64", "float64", "string"]
    store.write(
        stats.online_namespace,
        [
            Record(
                entity_key([1]), to_us(NOW - timedelta(minutes=5)), 0, pack([20, 4.5, "a"], kinds)
            ),
            Record(entity_key([2]), to_us(NOW - timedelta(hours=3)), 0, pack([7, 3.0, "b"], kinds)),
        ],
    )
    store.write(
        people.online_namespace,
        [Record(entity_key([1]), to_us(NOW), 0, pack(["d@example.com", 41], ["string", "int64"]))],
    )
    return store, Catalog([stats, make_density(stats), people])


def server(store: tuple[FlakyStore, Catalog], max_body_bytes: int = 2_048) -> Any:
    online, catalog = store
    lookup = FeatureLookup(online, catalog)
    return create_feature_server(
        lambda: lookup,
        TokenVerifier(authenticate, ttl_s=60),
        feature_services=lambda: {"drivers": ["driver_stats:trips", "trips_per_km"]},
        max_body_bytes=max_body_bytes,
    )


@pytest.fixture
def http(store: tuple[FlakyStore, Catalog]) -> Iterator[TestClient]:
    with TestClient(server(store), raise_server_exceptions=False) as client:
        yield client


def post(http: TestClient, body: Any, headers: dict[str, str] = VIEWER) -> Any:
    return http.post(FEATURE_PATH, json=body, headers=headers)


def test_answers_in_feasts_shape_with_a_status_per_value(http: TestClient) -> None:
    answer = post(
        http,
        {
            "features": ["driver_stats:trips", "driver_stats:rating"],
            "entities": {"driver_id": [1, 2, 9]},
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["metadata"]["feature_names"] == ["driver_id", "trips", "rating"]
    keys, trips, rating = body["results"]
    assert keys["values"] == [1, 2, 9] and keys["statuses"] == ["PRESENT"] * 3
    # fresh; older than the view's 2 h TTL (withheld, as from a model); never materialized
    assert trips["statuses"] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert trips["values"] == [20, None, None] and rating["values"] == [4.5, None, None]
    stamps = trips["event_timestamps"]
    assert datetime.fromisoformat(stamps[0]) == NOW - timedelta(minutes=5)
    assert stamps[1] is not None and stamps[2] is None


def test_full_feature_names_and_on_demand_features_with_request_fields(http: TestClient) -> None:
    body = post(
        http,
        {
            "features": ["driver_stats:trips", "trips_per_km"],
            "entities": {"driver_id": [1, 9], "km": [4.0, 2.0]},
            "full_feature_names": True,
        },
    ).json()
    assert body["metadata"]["feature_names"] == [
        "driver_id",
        "driver_stats__trips",
        "trips_per_km__trips_per_km",
    ]
    per_km = body["results"][2]
    assert per_km["values"] == [5.0, None]
    assert per_km["statuses"] == ["PRESENT", "NOT_FOUND"]


def test_a_feature_service_is_an_endpoints_feature_list(http: TestClient) -> None:
    body = post(
        http, {"feature_service": "drivers", "entities": {"driver_id": [1], "km": [2.0]}}
    ).json()
    assert body["metadata"]["feature_names"] == ["driver_id", "trips", "trips_per_km"]
    assert [r["values"][0] for r in body["results"]] == [1, 20, 10.0]
    missing = post(http, {"feature_service": "nope", "entities": {"driver_id": [1]}})
    assert missing.status_code == 404 and missing.json()["field"] == "feature_service"


def test_pii_features_are_redacted_unless_the_role_may_read_them(http: TestClient) -> None:
    ask = {"features": ["people"], "entities": {"driver_id": [1]}}
    viewer = post(http, ask).json()
    email, age = viewer["results"][1:]
    assert email == {
        "values": [None],
        "statuses": ["REDACTED"],
        "event_timestamps": email["event_timestamps"],
    }
    assert age["values"] == [41] and age["statuses"] == ["PRESENT"]
    admin = post(http, ask, ADMIN).json()
    assert admin["results"][1]["values"] == ["d@example.com"]


def test_a_token_is_checked_before_the_body_is_read(http: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = http.post(FEATURE_PATH, content=b"{not json", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"] == "Bearer"
    assert http.get("/health").json() == {"status": "ok"}  # liveness needs no token


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"features": ["driver_stats:nope"], "entities": {"driver_id": [1]}}, 422, "nope"),
        ({"features": ["driver_stats"], "entities": {"rider_id": [1]}}, 422, "entities.rider_id"),
        (
            {"features": ["driver_stats"], "entities": {"driver_id": [1, 2], "km": [1.0]}},
            422,
            "equal lengths",
        ),
        (
            {"features": ["driver_stats"], "feature_service": "drivers", "entities": {"a": [1]}},
            422,
            "exactly one of features and feature_service",
        ),
        ({"features": ["driver_stats"], "entities": {"driver_id": [[1]]}}, 422, "driver_id"),
        ({"features": ["driver_stats"], "entities": {"driver_id": list(range(800))}}, 413, "limit"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_rule(
    http: TestClient, body: dict[str, Any], status: int, names: str
) -> None:
    answer = post(http, body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert names in answer.text


def test_an_unreachable_online_store_is_503_without_its_address(
    http: TestClient, store: tuple[FlakyStore, Catalog]
) -> None:
    store[0].down = True
    answer = post(http, {"features": ["driver_stats"], "entities": {"driver_id": [1]}})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert "10.0.0.9" not in answer.text and "ConnectionError" in answer.text


def test_the_openapi_document_declares_every_answer_as_problem_json(http: TestClient) -> None:
    spec = http.get("/openapi.json").json()
    answers = spec["paths"][FEATURE_PATH]["post"]["responses"]
    for status in ("400", "401", "403", "404", "408", "413", "422", "503"):
        assert list(answers[status]["content"]) == ["application/problem+json"], status
    ok = answers["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/OnlineFeaturesResponse"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]


@pytest.fixture
def feature_schema(store: tuple[FlakyStore, Catalog]) -> Any:
    # valid requests name features and keys at random: most are refused (404/422), which
    # is what they should be; none may be a 5xx or an answer the document does not declare
    config = SchemathesisConfig.from_dict(
        {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404", "422"]}}}
    )
    # the server's default body limit: the small one above is for the 413 test
    app = server(store, max_body_bytes=1_048_576)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis' lazy loader renames each sub-test through `node._nodeid`, an attribute
    # pytest 9 no longer has
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.mark.slow
@pytest.mark.xdist_group("schemathesis")
@schemathesis.pytest.from_fixture("feature_schema").parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_feature_server_conforms_to_its_openapi(case: Any) -> None:
    case.call_and_validate(headers=VIEWER)

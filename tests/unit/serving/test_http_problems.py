"""The FastAPI servers' error answers: every error is the one problem document, a storage
outage never names the database, a 405 lists every method the path serves, and a bug is
a bare 500."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from modelward.errors import PROBLEM_JSON, OnlineStoreUnavailable, RateLimited, StoreUnavailable
from modelward.serving.http_problems import install_problem_handlers


class Body(BaseModel):
    rows: list[float] = Field(max_length=2)


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/thing")
    def read() -> dict[str, str]:
        return {}

    @app.post("/thing")
    def write(body: Body) -> dict[str, int]:
        return {"n": len(body.rows)}

    @app.get("/store")
    def store() -> None:
        raise StoreUnavailable("postgresql://ops:***@db.internal:5432/meta refused the connection")

    @app.get("/online")
    def online() -> None:
        raise OnlineStoreUnavailable("redis online store did not answer within 0.5 s")

    @app.get("/limited")
    def limited() -> None:
        raise RateLimited("token ci over 10 requests a second", retry_after=3)

    @app.get("/bug")
    def bug() -> None:
        raise KeyError("secret internals")

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


def test_a_metadata_store_outage_says_retry_and_never_names_the_database(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="modelward.http"):
        answer = client.get("/store")
    assert answer.status_code == 503 and answer.headers["content-type"] == PROBLEM_JSON
    assert answer.headers["retry-after"] == "5"
    assert "db.internal" not in answer.text and "ops" not in answer.text
    assert answer.json()["detail"] == (
        "the service cannot reach its storage right now; try again later"
    )
    assert "db.internal" in caplog.text  # the operator still learns which server


def test_an_online_store_outage_keeps_its_message(client: TestClient) -> None:
    answer = client.get("/online")
    assert answer.status_code == 503
    assert answer.json()["detail"] == "redis online store did not answer within 0.5 s"


def test_a_rate_limit_says_when_to_come_back(client: TestClient) -> None:
    answer = client.get("/limited")
    assert (answer.status_code, answer.headers["retry-after"]) == (429, "3")


def test_invalid_input_names_each_field_and_rule(client: TestClient) -> None:
    too_long = client.post("/thing", json={"rows": [1, 2, 3]}).json()
    assert too_long["title"] == "invalid input"
    assert [e["field"] for e in too_long["errors"]] == ["body.rows"]
    assert "at most 2 items" in too_long["errors"][0]["rule"]
    assert too_long["detail"].startswith("body.rows: ")
    not_a_number = client.post("/thing", json={"rows": [1, "x"]})
    assert not_a_number.status_code == 422
    assert [e["field"] for e in not_a_number.json()["errors"]] == ["body.rows.1"]


def test_a_body_that_is_not_json_is_a_400_not_a_list_of_rules(client: TestClient) -> None:
    answer = client.post(
        "/thing", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["detail"] == "the request body is not valid JSON (UTF-8)"


def test_a_wrong_method_lists_every_method_the_path_serves(client: TestClient) -> None:
    answer = client.delete("/thing")
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) >= {"GET", "POST"}
    assert answer.headers["content-type"] == PROBLEM_JSON


def test_an_unknown_route_and_a_bug_are_problem_documents_without_internals(
    client: TestClient,
) -> None:
    missing = client.get("/nowhere")
    assert (missing.status_code, missing.json()["title"]) == (404, "not found")
    bug = client.get("/bug")
    assert bug.status_code == 500
    assert "secret internals" not in bug.text and bug.json()["title"] == "internal error"

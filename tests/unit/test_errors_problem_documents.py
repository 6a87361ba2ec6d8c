"""One error shape: the REST API and the gateway answer an error with the same document."""

from __future__ import annotations

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelward.errors import PROBLEM_JSON, CheckFailed, ModelwardError, NotFound, RequestInvalid
from modelward.serving import install_problem_handlers as install
from modelward.serving.problems import problem_body

ERRORS = [
    RequestInvalid(
        "inputs[0].tenure: must be a 64-bit integer",
        errors=[{"field": "inputs[0].tenure", "rule": "must be a 64-bit integer"}],
    ),
    NotFound("model 'churn' is not registered", model="churn"),
    CheckFailed("churn@3 may not enter Production", gate_results=[], approvals=[]),
    # a detail named like a standard member never replaces it
    NotFound("no such endpoint", status=200, title="x"),
]


def _rest_answer(exc: ModelwardError) -> tuple[int, str, dict[str, object]]:
    app = FastAPI()
    install(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    response = TestClient(app).get("/boom")
    return response.status_code, response.headers["content-type"], response.json()


@pytest.mark.parametrize("exc", ERRORS, ids=lambda e: type(e).__name__)
def test_both_servers_send_the_same_problem_document(exc: ModelwardError) -> None:
    status, content_type, rest = _rest_answer(exc)
    gateway = orjson.loads(problem_body(exc, "req-1"))
    assert status == exc.http_status and content_type == PROBLEM_JSON
    assert gateway == rest | {"request_id": "req-1"}
    assert rest["status"] == exc.http_status and rest["title"] == exc.title
    assert rest["detail"] == exc.message and rest["error"] == type(exc).__name__
    for key, value in exc.details.items():
        if key not in ("status", "title"):
            assert rest[key] == value


def test_framework_errors_use_the_same_members() -> None:
    app = FastAPI()
    install(app)
    body = TestClient(app).get("/no/such/route").json()
    assert set(body) >= {"type", "title", "status", "detail", "error"}
    assert body["status"] == 404

"""The gateway's error answers on the wire: a problem document even for text JSON cannot
carry, the length and request id headers, and each fallback reason's metric label."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from modelward.errors import InputError
from modelward.serving.problems import fallback_reason, problem_body, respond


def test_a_problem_body_carries_the_request_id_and_the_field() -> None:
    body = json.loads(problem_body(InputError("age: must be a number", field="age"), "req-1"))
    assert body["status"] == 422 and body["request_id"] == "req-1"
    assert "age: must be a number" in body["detail"]


def test_a_lone_surrogate_echoed_from_the_request_is_escaped_not_a_500() -> None:
    raw = problem_body(InputError("name: '\ud800' is not valid text", field="name"), "r")
    assert b"\\ud800" in raw
    assert json.loads(raw)["status"] == 422


def test_respond_sends_the_status_length_and_request_id() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(respond(send, 422, b'{"a":1}', [(b"content-type", b"application/json")], "r-9"))
    start, body = sent
    assert start["status"] == 422
    assert start["headers"] == [
        (b"content-type", b"application/json"),
        (b"content-length", b"7"),
        (b"x-request-id", b"r-9"),
    ]
    assert body == {"type": "http.response.body", "body": b'{"a":1}'}


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        (None, "unknown"),
        ("", "unknown"),
        ("churn@3: circuit open after 5 failures", "breaker_open"),
        ("over the latency budget of 50 ms", "timeout"),
        ("feature store unavailable: redis timed out", "feature_store"),
        ("model failed: ValueError", "model_error"),
        ("model unavailable: could not load", "model_unavailable"),
        ("the feature lookup failed for this row", "row_refused"),
        ("no fresh features for driver 7", "missing_features"),
    ],
)
def test_each_fallback_reason_has_its_label(reason: str | None, label: str) -> None:
    assert fallback_reason(reason) == label

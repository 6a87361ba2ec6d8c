"""The gateway's access log: one JSON line per request, written off the request path; a
full buffer drops lines and says how many in the next line, never blocking a request."""

from __future__ import annotations

import io

import orjson

from modelward.serving.accesslog import AccessLog


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_each_request_is_one_json_line_with_only_the_fields_it_has() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.log("r1", "POST", "/v1/endpoints/churn/predict", 200, 0.0123456, "churn", "3", False)
    log.log("r2", "GET", "/healthz", 200, 0.0001)
    log.close()
    first, second = _lines(stream)
    assert {k: first[k] for k in first if k != "ts"} == {
        "level": "info",
        "msg": "request",
        "request_id": "r1",
        "method": "POST",
        "path": "/v1/endpoints/churn/predict",
        "status": 200,
        "latency_ms": 12.346,
        "endpoint": "churn",
        "model_version": "3",
        "degraded": False,
    }
    assert set(second) == {
        "ts",
        "level",
        "msg",
        "request_id",
        "method",
        "path",
        "status",
        "latency_ms",
    }


def test_a_server_error_is_logged_at_error_level_with_its_reason() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.log("r1", "POST", "/p", 499, 0.1)
    log.log("r2", "POST", "/p", 500, 0.1, error="model raised ValueError")
    log.close()
    client, server = _lines(stream)
    assert client["level"] == "info"
    assert (server["level"], server["error"]) == ("error", "model raised ValueError")


def test_past_capacity_lines_are_dropped_and_counted_in_the_next_line_written() -> None:
    stream = io.StringIO()
    log = AccessLog(stream, capacity=2)
    log.close()  # the writer thread is stopped: what is logged now stays buffered
    for i in range(5):
        log.log(f"r{i}", "GET", "/p", 200, 0.0)  # three of five are over the capacity
    log.close()  # writes what the buffer holds
    rows = _lines(stream)
    assert [r["request_id"] for r in rows] == ["r0", "r1"]
    assert rows[0]["dropped_before"] == 3 and "dropped_before" not in rows[1]


def test_a_closed_stream_at_shutdown_is_not_an_error() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.log("r1", "GET", "/p", 200, 0.0)
    stream.close()
    log.close()  # nothing left to tell, and nothing raised

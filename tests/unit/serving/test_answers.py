"""One request's answer: the document and the prediction-log rows made from the same
per-row facts, so which model answered, which rows are degraded and why always agree."""

from __future__ import annotations

from modelward.monitoring import PredictionRecord
from modelward.serving.answers import FIXED_RESPONSE, Answer


def _mixed() -> Answer:
    # row 1 had no fresh features: the fallback model answered it
    return Answer(
        predictions=[0.9, 0.5, 0.2],
        inputs=[{"id": 1, "email": "a@x"}, {"id": 2, "email": "b@x"}, {"id": 3, "email": "c@x"}],
        sources=[("churn", "4"), ("churn-rules", "1"), ("churn", "4")],
        reasons=[None, "features stale", None],
    )


def test_a_batch_answer_names_the_endpoints_model_and_each_degraded_row() -> None:
    body = _mixed().payload("req", "churn", batch=True)
    assert body == {
        "request_id": "req",
        "endpoint": "churn",
        "model": "churn",
        "model_version": "4",
        "degraded": True,
        "reason": "features stale",
        "predictions": [0.9, 0.5, 0.2],
        "degraded_rows": [{"row": 1, "reason": "features stale"}],
    }


def test_a_single_answer_has_its_prediction_and_no_degraded_fields_when_sound() -> None:
    answer = Answer([0.7], [{"id": 1}], [("churn", "4")], [None])
    assert answer.payload("r", "churn", batch=False) == {
        "request_id": "r",
        "endpoint": "churn",
        "model": "churn",
        "model_version": "4",
        "degraded": False,
        "prediction": 0.7,
    }


def test_when_no_row_was_scored_the_fallback_is_the_model_named() -> None:
    answer = Answer([0.0, 0.0], [{}, {}], [("fixed", None)] * 2, ["breaker open"] * 2)
    body = answer.payload("r", "churn", batch=True)
    assert (body["model"], body["model_version"], body["reason"]) == ("fixed", None, "breaker open")
    assert [d["row"] for d in body["degraded_rows"]] == [0, 1]


def test_log_rows_are_redacted_numbered_and_roled_like_the_answer() -> None:
    rows: list[PredictionRecord] = []
    _mixed().log(
        rows.append, request_id="req", at_us=7, endpoint="churn", latency_ms=3.0, pii=["email"]
    )
    assert [r.request_id for r in rows] == ["req/0", "req/1", "req/2"]
    assert [r.role for r in rows] == ["primary", "fallback", "primary"]
    assert [r.degraded for r in rows] == [False, True, False]
    assert [r.model for r in rows] == ["churn", "churn-rules", "churn"]
    assert all(r.inputs["email"] == "[redacted]" and r.error == "" for r in rows)
    assert rows[0].inputs["id"] == 1


def test_inside_a_release_every_row_keeps_its_arm_and_a_fixed_response_is_named() -> None:
    rows: list[PredictionRecord] = []
    answer = Answer([1], [{"id": 1}], [("fixed", None)], ["model unavailable"])
    answer.log(
        rows.append,
        request_id="req",
        at_us=7,
        endpoint="churn",
        latency_ms=1.0,
        pii=[],
        role="candidate",
        release_id="rel-1",
        mode="async",
    )
    (row,) = rows
    assert row.request_id == "req"  # one row: no /0 suffix
    assert (row.role, row.release_id, row.mode) == ("candidate", "rel-1", "async")
    assert row.model_version == FIXED_RESPONSE and row.degraded

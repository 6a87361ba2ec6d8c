"""The scoring core: the model under its breakers and budget, then per row the model's answer
or the fallback's, and a refusal naming the rows nothing could answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import numpy as np
import pytest

from modelward.errors import ModelUnavailable
from modelward.serving.endpoints import Fallback
from modelward.serving.metrics import GatewayMetrics
from modelward.serving.resilience import BreakerState
from modelward.serving.runtime import EndpointRuntime, Scored
from modelward.serving.scoring_core import _stage_spans, answer_rows_of, score_rows
from tests.unit.serving.support import (
    FIELDS,
    ConstantModel,
    SleepyModel,
    endpoint_runtime,
    row,
)


class ArmedCrash:
    """Answers the load's warm-up, then raises on every call once ``armed``."""

    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.armed = False
        self.calls = 0

    def predict_proba(self, x: Any) -> Any:
        if self.armed:
            self.calls += 1
            raise ValueError("weights file is corrupt")
        return np.tile([0.5, 0.5], (len(x), 1))


def crashing_runtime(**kw: Any) -> tuple[EndpointRuntime, ArmedCrash]:
    model = ArmedCrash()
    runtime = endpoint_runtime(model, **kw)
    model.armed = True
    return runtime, model


def score(runtime: EndpointRuntime, rows: list[dict[str, Any]]) -> tuple[Scored | None, str | None]:
    return asyncio.run(score_rows(runtime, rows))


def test_a_healthy_model_answers_and_keeps_its_breaker_closed() -> None:
    runtime = endpoint_runtime(ConstantModel(0.3))
    scored, reason = score(runtime, [row(), row()])
    assert reason is None and scored is not None
    assert scored.predictions == pytest.approx([0.3, 0.3])
    assert runtime.model_breaker.state is BreakerState.CLOSED


def test_an_unavailable_model_is_a_reason_not_a_call() -> None:
    runtime = endpoint_runtime(ConstantModel(0.3))
    runtime.unavailable = "its artifact could not be loaded"
    assert score(runtime, [row()]) == (None, "model unavailable: its artifact could not be loaded")


def test_failures_open_the_model_breaker_and_then_the_model_is_not_called() -> None:
    runtime, model = crashing_runtime()
    threshold = runtime.model_breaker.threshold
    reasons = [score(runtime, [row()])[1] for _ in range(threshold)]
    assert all(r is not None and r.startswith("model failed:") for r in reasons)
    assert "weights file is corrupt" in str(reasons[0])
    assert runtime.model_breaker.state is BreakerState.OPEN
    calls = model.calls
    assert score(runtime, [row()]) == (None, "model circuit open")
    assert model.calls == calls  # the open breaker spared the broken model


def test_an_overrun_is_the_budget_named_in_ms_and_counts_against_the_model() -> None:
    slow = SleepyModel(seconds=0.05)
    runtime = endpoint_runtime(slow, latency_budget_ms=10)
    slow.armed.set()
    assert score(runtime, [row()]) == (None, "latency budget of 10 ms exceeded")
    assert runtime.model_breaker.failures == 1
    assert runtime.feature_breaker.failures == 0  # no features were read


def answer(
    runtime: EndpointRuntime, rows: list[dict[str, Any]], scored: Scored | None, reason: str | None
):
    metrics = GatewayMetrics()
    result = asyncio.run(answer_rows_of(runtime, rows, scored, reason, metrics))
    return result, metrics


def fallbacks_counted(metrics: GatewayMetrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "modelward_gateway_fallbacks_total", {"endpoint": "m", "reason": reason}
    )
    return value or 0.0


def test_a_fixed_fallback_answers_every_row_the_model_could_not() -> None:
    runtime = endpoint_runtime(ConstantModel(0.3), fallback=Fallback(response={"churn": 0}))
    rows = [row(0.1), row(0.2)]
    result, metrics = answer(runtime, rows, None, "model circuit open")
    assert result.predictions == [{"churn": 0}, {"churn": 0}]
    assert result.sources == [("m", None), ("m", None)]  # no version: a fixed response
    assert result.reasons == ["model circuit open"] * 2 and result.degraded
    assert result.inputs == rows
    assert fallbacks_counted(metrics, "breaker_open") == 2


def test_only_the_rows_that_failed_alone_go_to_the_fallback() -> None:
    runtime = endpoint_runtime(ConstantModel(0.3), "4", fallback=Fallback(response=0))
    scored = Scored([0.3, None], [row(), row()], 0.0, 0.0, 2, [None, "no value"])
    result, metrics = answer(runtime, [row(), row()], scored, None)
    assert result.predictions == [0.3, 0]
    assert result.sources == [("m", "4"), ("m", None)]
    assert result.reasons == [None, "no value"]
    assert fallbacks_counted(metrics, "missing_features") == 1


def test_without_a_fallback_the_refusal_names_the_endpoint_and_its_reason() -> None:
    runtime = endpoint_runtime(ConstantModel(0.3))
    with pytest.raises(ModelUnavailable, match=r"endpoint 'm' cannot answer: model circuit open"):
        answer(runtime, [row()], None, "model circuit open")
    scored = Scored([0.3, None, None], [row()] * 3, 0.0, 0.0, 3, [None, "no value", "no value"])
    with pytest.raises(ModelUnavailable, match=r"cannot answer row\(s\) 1, 2: no value") as refused:
        answer(runtime, [row()] * 3, scored, None)
    assert refused.value.details == {"endpoint": "m"}


def test_a_fallback_model_answers_with_its_own_name_and_version() -> None:
    runtime = endpoint_runtime(
        ConstantModel(0.3), fallback=Fallback(model="m@9"), fallback_model=ConstantModel(0.8)
    )
    result, _ = answer(runtime, [row(), row()], None, "model circuit open")
    assert result.predictions == pytest.approx([0.8, 0.8])
    assert result.sources == [("m-backup", "9")] * 2
    assert result.reasons == ["model circuit open"] * 2  # still degraded: say why


def test_when_the_fallback_model_fails_too_the_refusal_says_both() -> None:
    backup = ArmedCrash()
    runtime = endpoint_runtime(
        ConstantModel(0.3), fallback=Fallback(model="m@9"), fallback_model=backup
    )
    backup.armed = True
    with pytest.raises(ModelUnavailable) as refused:
        answer(runtime, [row()], None, "latency budget of 5000 ms exceeded")
    message = refused.value.message
    assert message.startswith("endpoint 'm' cannot answer: latency budget of 5000 ms exceeded")
    assert "the fallback model failed too" in message


def test_an_open_feature_breaker_stops_only_an_endpoint_that_reads_features() -> None:
    request = {**FIELDS, "customer_id": "int"}
    reads = endpoint_runtime(
        ConstantModel(0.3), request=request, entity_keys=["customer_id"], features=["stats"]
    )
    reads.lookup = cast(Any, object())  # never reached: the breaker answers first
    for _ in range(reads.feature_breaker.threshold):
        reads.feature_breaker.failure()
    assert score(reads, [row()]) == (None, "feature store circuit open")
    assert reads.model_breaker.allow()  # the model's probe slot was given back
    plain = endpoint_runtime(ConstantModel(0.3))
    for _ in range(plain.feature_breaker.threshold):
        plain.feature_breaker.failure()
    assert score(plain, [row()])[1] is None  # no features read: that breaker says nothing


class Spans:
    """A tracer recording the spans started on it: (name, start, end, attributes)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []

    def start_span(self, name: str, start_time: int) -> Any:
        span: dict[str, Any] = {"name": name, "start": start_time, "attributes": {}}
        self.spans.append(span)

        class Span:
            def set_attribute(self, key: str, value: Any) -> None:
                span["attributes"][key] = value

            def end(self, end_time: int) -> None:
                span["end"] = end_time

        return Span()


def test_the_model_call_is_a_span_within_the_request_with_its_batch_size() -> None:
    tracer = Spans()
    before = time.time_ns()
    asyncio.run(score_rows(endpoint_runtime(ConstantModel(0.3)), [row(), row()], tracer))
    after = time.time_ns()
    [model] = tracer.spans  # no features read: no features span
    assert model["name"] == "model" and model["attributes"] == {"modelward.batch_rows": 2}
    assert before <= model["start"] <= model["end"] <= after


def test_a_fallback_model_refusing_a_row_leaves_only_that_row_unanswered() -> None:
    runtime = endpoint_runtime(
        ConstantModel(0.3), fallback=Fallback(model="m@9"), fallback_model=NegativeRefusing()
    )
    rows = [row(0.5), row(0.5), row(-1.0)]
    scored = Scored([0.3, None, None], rows, 0.0, 0.0, 3, [None, "no value", "no value"])
    with pytest.raises(ModelUnavailable) as refused:
        answer(runtime, rows, scored, None)
    # row 1 was answered by the fallback; row 2 is named, with both reasons
    assert refused.value.message == (
        "endpoint 'm' cannot answer row(s) 2: no value; the fallback model: "
        "model failed on this row: ValueError: negative f0"
    )
    answered = endpoint_runtime(
        ConstantModel(0.3), fallback=Fallback(model="m@9"), fallback_model=NegativeRefusing()
    )
    result, _ = answer(
        answered, rows[:2], Scored([0.3, None], rows[:2], 0, 0, 2, [None, "x"]), None
    )
    assert result.predictions == pytest.approx([0.3, 0.6])
    assert result.sources == [("m", "1"), ("m-backup", "9")]
    assert result.inputs == rows[:2]


class NegativeRefusing(ConstantModel):
    """A sound fallback (0.6) that refuses rows whose first input is negative."""

    def __init__(self) -> None:
        super().__init__(0.6)

    def predict_proba(self, x: Any) -> Any:
        if (np.asarray(x)[:, 0] < 0).any():
            raise ValueError("negative f0")
        return super().predict_proba(x)


def test_a_fallback_model_over_the_budget_fails_too_and_says_so() -> None:
    slow = SleepyModel(seconds=0.05)
    runtime = endpoint_runtime(
        ConstantModel(0.3),
        fallback=Fallback(model="m@9"),
        fallback_model=slow,
        latency_budget_ms=10,
    )
    slow.armed.set()
    with pytest.raises(ModelUnavailable) as refused:
        answer(runtime, [row()], None, "model circuit open")
    assert refused.value.message.endswith(
        "model circuit open; the fallback model failed too: "
        "the model call on the event loop overran the budget"
    )


def test_a_loaded_backup_answers_only_when_the_endpoint_names_a_fallback() -> None:
    runtime = endpoint_runtime(ConstantModel(0.3), fallback_model=ConstantModel(0.8))
    with pytest.raises(ModelUnavailable, match="cannot answer: model circuit open"):
        answer(runtime, [row()], None, "model circuit open")


def test_features_and_model_are_consecutive_spans_ending_now() -> None:
    tracer = Spans()
    scored = Scored([0.3], [row()], features_s=2.0, model_s=1.0, batch_size=5)
    before = time.time_ns()
    _stage_spans(tracer, before - 5 * 10**9, scored)
    features, model = tracer.spans
    assert (features["name"], model["name"]) == ("features", "model")
    assert features["end"] == model["start"]  # the model call followed the lookup
    assert features["end"] - features["start"] == 2_000_000_000  # 2 s, in nanoseconds
    assert model["end"] - model["start"] == 1_000_000_000
    assert model["end"] >= before
    assert features["attributes"] == model["attributes"] == {"modelward.batch_rows": 5}


def test_a_fully_scored_answer_is_the_models_for_every_row() -> None:
    runtime = endpoint_runtime(ConstantModel(0.3), "4")
    scored = Scored([0.3, 0.3], [row(0.1), row(0.2)], 0.0, 0.0, 2)  # no reasons: all scored
    result, metrics = answer(runtime, [row(0.1), row(0.2)], scored, None)
    assert result.predictions == [0.3, 0.3] and result.reasons == [None, None]
    assert result.sources == [("m", "4"), ("m", "4")] and not result.degraded
    assert fallbacks_counted(metrics, "unknown") == 0

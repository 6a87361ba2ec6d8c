"""The scoring core every route shares: the model under its breakers and budget, then per
row the model's answer or the fallback's.

The native predict route, the Open Inference Protocol and MLflow routes, gRPC and the
async workers all answer through these two functions (by way of
:meth:`~modelward.serving.gateway.Gateway.predict` or ``answer_rows``), so the breakers,
the latency budget, the per-row fallbacks and their metrics are one piece of code.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from modelward.errors import InputError, ModelUnavailable
from modelward.serving.answers import Answer
from modelward.serving.problems import fallback_reason
from modelward.serving.runtime import EndpointRuntime, FeatureStoreFailed, ModelFailed, Scored

if TYPE_CHECKING:
    from modelward.serving.metrics import GatewayMetrics

__all__ = ["answer_rows_of", "score_rows"]


async def score_rows(
    runtime: EndpointRuntime, rows: list[dict[str, Any]], tracer: Any = None
) -> tuple[Scored | None, str | None]:
    """The model's answer under the breakers and the budget, or why there is none.

    The breakers hear only about their dependency: a row that failed alone (in the
    answer's ``reasons``) says nothing against the model or the store."""
    spec = runtime.spec
    if runtime.unavailable is not None:
        return None, f"model unavailable: {runtime.unavailable}"
    if not runtime.model_breaker.allow():
        return None, "model circuit open"
    if runtime.uses_features and not runtime.feature_breaker.allow():
        runtime.model_breaker.release()
        return None, "feature store circuit open"
    budget = spec.latency_budget_ms / 1000.0
    submitted = time.time_ns()
    try:
        scored = await runtime.predict(rows, budget)
    except TimeoutError:
        if runtime.reading_features:  # the deadline passed waiting on the online store
            runtime.model_breaker.release()
            runtime.feature_breaker.failure()
            return None, (
                f"latency budget of {spec.latency_budget_ms:g} ms exceeded reading online features"
            )
        runtime.model_breaker.failure()
        runtime.feature_breaker.release()
        return None, f"latency budget of {spec.latency_budget_ms:g} ms exceeded"
    except FeatureStoreFailed as exc:
        runtime.model_breaker.release()
        runtime.feature_breaker.failure()
        return None, f"feature store failed: {exc}"
    except ModelFailed as exc:
        runtime.model_breaker.failure()
        runtime.feature_breaker.release()
        return None, f"model failed: {exc}"
    except InputError:  # an on-demand transform refused this request's values: a 422
        runtime.model_breaker.release()
        runtime.feature_breaker.success()
        raise
    runtime.model_breaker.success()
    if runtime.uses_features:
        runtime.feature_breaker.success()
    if tracer is not None:
        _stage_spans(tracer, submitted, scored)
    return scored, None


async def answer_rows_of(
    runtime: EndpointRuntime,
    rows: list[dict[str, Any]],
    scored: Scored | None,
    reason: str | None,
    metrics: GatewayMetrics,
) -> Answer:
    """Per row, the model's prediction or the fallback's (degraded, with the reason)."""
    n = len(rows)
    model = runtime.model
    if scored is None:
        answer = Answer([None] * n, list(rows), [(model.name, None)] * n, [reason] * n)
    else:
        reasons: list[str | None] = list(scored.reasons) if scored.reasons else [None] * n
        answer = Answer(
            list(scored.predictions),
            list(scored.inputs),
            [(model.name, model.version if r is None else None) for r in reasons],
            reasons,
        )
    todo = [j for j, r in enumerate(answer.reasons) if r is not None]
    if todo:
        for j in todo:
            metrics.fallbacks.labels(runtime.spec.name, fallback_reason(answer.reasons[j])).inc()
        await _fallback(runtime, rows, todo, answer)
    return answer


async def _fallback(
    runtime: EndpointRuntime, rows: list[dict[str, Any]], todo: list[int], answer: Answer
) -> None:
    """Answer rows ``todo`` from the fallback; :class:`ModelUnavailable` when it cannot."""
    fallback = runtime.spec.fallback
    if fallback is not None and fallback.model is None:
        for j in todo:
            answer.predictions[j] = fallback.response
        return
    why = answer.reasons[todo[0]]
    backup = runtime.fallback_model
    if fallback is not None and backup is not None:
        budget = runtime.spec.latency_budget_ms / 1000.0
        try:
            scored = await runtime.predict([rows[j] for j in todo], budget, fallback=True)
        except (TimeoutError, FeatureStoreFailed, ModelFailed) as exc:
            why = f"{why}; the fallback model failed too: {exc or 'timeout'}"
        else:
            left = []
            for k, j in enumerate(todo):
                failed = scored.reasons[k] if scored.reasons else None
                if failed is None:
                    answer.predictions[j] = scored.predictions[k]
                    answer.inputs[j] = scored.inputs[k]
                    answer.sources[j] = (backup.name, backup.version)
                else:
                    left.append(j)
                    answer.reasons[j] = f"{answer.reasons[j]}; the fallback model: {failed}"
            if not left:
                return
            todo, why = left, answer.reasons[left[0]]
    rows_named = ":" if len(rows) == 1 else f" row(s) {', '.join(map(str, todo))}:"
    raise ModelUnavailable(
        f"endpoint {runtime.spec.name!r} cannot answer{rows_named} {why}",
        endpoint=runtime.spec.name,
    )


def _stage_spans(tracer: Any, submitted_ns: int, scored: Scored) -> None:
    """Child spans for the stages that ran on the batcher thread, timed from there."""
    features_ns = int(scored.features_s * 1e9)
    model_ns = int(scored.model_s * 1e9)
    end = time.time_ns()
    start_model = end - model_ns
    if features_ns:
        span = tracer.start_span("features", start_time=start_model - features_ns)
        span.set_attribute("modelward.batch_rows", scored.batch_size)
        span.end(end_time=start_model)
    span = tracer.start_span("model", start_time=max(start_model, submitted_ns))
    span.set_attribute("modelward.batch_rows", scored.batch_size)
    span.end(end_time=end)

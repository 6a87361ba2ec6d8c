"""The gateway end to end over ASGI: answers, bad input, faults, fallbacks, limits, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving.endpoints import Fallback
from tests.unit.serving.support import (
    AUTH,
    ConstantModel,
    GatewayFactory,
    RaisingModel,
    SleepyModel,
    World,
    row,
    run,
    serving,
    spec,
)

URL = "/v1/endpoints/m/predict"


def test_single_row_and_batch_are_scored_with_model_version_and_request_id(
    make_gateway: GatewayFactory, sink: MemoryPredictionSink, classifier: Any
) -> None:
    async def scenario() -> tuple[Any, Any, Any]:
        async with serving(make_gateway()) as http:
            one = await http.post(URL, json={"inputs": row(1.0)}, headers=AUTH)
            many = await http.post(
                URL,
                json={"inputs": [row(1.0), row(-1.0)]},
                headers={**AUTH, "X-Request-ID": "abc-123"},
            )
            return one, many, await http.get("/metrics")

    one, many, metrics = run(scenario())
    assert one.status_code == 200
    body = one.json()
    expected = classifier.predict_proba(np.full((1, 4), 1.0))[0, 1]
    assert body["prediction"] == expected
    assert body["model"] == "m" and body["model_version"] == "3"
    assert body["degraded"] is False
    assert body["request_id"] == one.headers["x-request-id"]
    assert many.json()["request_id"] == "abc-123"
    assert len(many.json()["predictions"]) == 2
    # every row is in the prediction log once the gateway has shut down
    logged = sink.read("m")
    assert [r.request_id for r in logged] == [body["request_id"], "abc-123/0", "abc-123/1"]
    assert logged[0].inputs == row(1.0) and logged[0].prediction == expected
    text = metrics.text
    assert (
        'modelward_gateway_requests_total{endpoint="m",model_version="3",status="200"} 2.0' in text
    )
    for name in (
        'modelward_gateway_request_seconds_count{endpoint="m",model_version="3"} 2.0',
        'modelward_gateway_model_seconds_count{endpoint="m",model_version="3"}',
        'modelward_gateway_breaker_state{dependency="model",endpoint="m"} 0.0',
        "modelward_gateway_in_flight ",
        "modelward_prediction_log_queue_depth ",
        "modelward_prediction_log_dropped_total 0.0",
    ):
        assert name in text, name


def test_bad_requests_name_each_field_and_rule(make_gateway: GatewayFactory) -> None:
    async def scenario() -> list[Any]:
        async with serving(make_gateway()) as http:
            return [
                await http.post(URL, content=b'{"inputs": {', headers=AUTH),
                await http.post(
                    URL, json={"inputs": {**row(), "f1": "x", "f2": True}}, headers=AUTH
                ),
                await http.post(
                    URL, json={"inputs": {"f0": 1.0, "f1": 1.0, "f2": 1.0, "zz": 1}}, headers=AUTH
                ),
                await http.post(
                    URL,
                    content=b'{"inputs": {"f0": NaN, "f1": Infinity, "f2": 1, "f3": -Infinity}}',
                    headers=AUTH,
                ),
            ]

    malformed, types, fields, non_finite = run(scenario())
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"
    assert "not valid JSON" in malformed.json()["detail"]
    assert types.status_code == 422
    assert [e["field"] for e in types.json()["errors"]] == ["inputs.f1", "inputs.f2"]
    assert types.json()["errors"][0]["rule"] == "must be a finite number"
    assert {e["field"]: e["rule"] for e in fields.json()["errors"]} == {
        "inputs.f3": "is required",
        "inputs.zz": "is not a request field of endpoint 'm'",
    }
    assert [e["field"] for e in non_finite.json()["errors"]] == [
        "inputs.f0",
        "inputs.f1",
        "inputs.f3",
    ]


def test_oversized_body_unknown_endpoint_and_tokens(make_gateway: GatewayFactory) -> None:
    async def scenario() -> list[Any]:
        async with serving(make_gateway()) as http:
            big = b'{"inputs": "' + b"x" * (50 * 1024 * 1024) + b'"}'
            return [
                await http.post(URL, content=big, headers=AUTH),
                await http.post("/v1/endpoints/nope/predict", json={"inputs": row()}, headers=AUTH),
                await http.post(URL, json={"inputs": row()}),
                await http.post(URL, json={"inputs": row()}, headers={"Authorization": "Bearer x"}),
                await http.get(URL, headers=AUTH),
            ]

    big, unknown, anonymous, bad_token, wrong_method = run(scenario())
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert big.status_code == 413
    assert unknown.status_code == 404 and "'nope'" in unknown.json()["detail"]
    assert anonymous.status_code == 401
    assert bad_token.status_code == 401


def test_only_listed_callers_may_call(make_gateway: GatewayFactory, world: World) -> None:
    world.put(spec(callers=["alice"]))

    async def scenario() -> list[int]:
        async with serving(make_gateway()) as http:
            ok = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            denied = await http.post(
                URL, json={"inputs": row()}, headers={"Authorization": "Bearer tok-bob"}
            )
            return [ok.status_code, denied.status_code]

    assert run(scenario()) == [200, 403]


def test_a_model_that_raises_answers_with_the_fallback_and_opens_the_breaker(
    make_gateway: GatewayFactory, world: World, sink: MemoryPredictionSink
) -> None:
    world.model("m@production", RaisingModel(), "4")
    world.put(spec(fallback=Fallback(response=0.5)))

    async def scenario() -> tuple[list[Any], str]:
        async with serving(make_gateway()) as http:
            answers = [
                (await http.post(URL, json={"inputs": row()}, headers=AUTH)).json()
                for _ in range(7)
            ]
            return answers, (await http.get("/metrics")).text

    answers, metrics = run(scenario())
    assert all(a["degraded"] and a["prediction"] == 0.5 for a in answers)
    assert answers[0]["reason"].startswith("model failed: ValueError: boom")
    assert answers[0]["model_version"] is None
    assert answers[-1]["reason"] == "model circuit open"
    assert 'modelward_gateway_breaker_state{dependency="model",endpoint="m"} 2.0' in metrics
    assert 'modelward_gateway_fallbacks_total{endpoint="m",reason="model_error"} 5.0' in metrics
    assert all(r.degraded and r.model_version == "fallback-response" for r in sink.read())


def test_without_a_fallback_a_failing_model_is_a_503_problem(
    make_gateway: GatewayFactory, world: World
) -> None:
    world.model("m@production", RaisingModel(), "4")

    async def scenario() -> Any:
        async with serving(make_gateway()) as http:
            return await http.post(URL, json={"inputs": row()}, headers=AUTH)

    answer = run(scenario())
    assert answer.status_code == 503
    assert "boom" in answer.json()["detail"]


def test_a_model_sleeping_past_the_budget_is_answered_within_it_by_the_fallback_model(
    make_gateway: GatewayFactory, world: World
) -> None:
    sleepy = SleepyModel(seconds=2.0)
    world.model("m@production", sleepy, "5")
    world.model("m@2", ConstantModel(0.1), "2")
    world.put(spec(latency_budget_ms=200, fallback=Fallback(model="m@2")))

    async def scenario() -> tuple[Any, bool]:
        async with serving(make_gateway()) as http:
            sleepy.armed.set()
            answer = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            return answer, sleepy.finished.is_set()

    answer, model_had_finished = run(scenario())
    body = answer.json()
    assert body["degraded"] is True and body["model_version"] == "2"
    assert body["prediction"] == 0.1
    assert "latency budget of 200 ms exceeded" in body["reason"]
    # the deadline answered while the sleeping model was still busy: nothing waited for it
    assert not model_had_finished


def test_a_burst_past_the_concurrency_limit_gets_503s_and_accepted_stay_in_budget(
    make_gateway: GatewayFactory, world: World
) -> None:
    slow = SleepyModel(seconds=0.002)
    world.model("m@production", slow, "6")
    world.put(spec(latency_budget_ms=500, batching=True))
    limit = 8

    async def scenario() -> list[tuple[int, float, Any]]:
        async with serving(make_gateway(max_concurrency=limit)) as http:
            slow.armed.set()

            async def one() -> tuple[int, Any]:
                r = await http.post(URL, json={"inputs": row()}, headers=AUTH)
                return r.status_code, r

            return await asyncio.gather(*(one() for _ in range(limit * 10)))

    results = run(scenario())
    codes = [c for c, _ in results]
    assert codes.count(200) >= limit
    assert codes.count(503) >= limit
    assert set(codes) == {200, 503}
    refused = next(r for c, r in results if c == 503)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == "Overloaded"
    # every accepted request was scored inside its budget (no deadline fallback), and
    # every refused one was answered before scoring: the model saw exactly the accepted
    # rows, never more at once than the concurrency limit lets in
    assert all(not r.json()["degraded"] for c, r in results if c == 200)
    assert slow.rows == codes.count(200)
    assert slow.largest_batch <= limit


def test_config_change_and_new_model_version_are_picked_up_without_restart(
    make_gateway: GatewayFactory, world: World
) -> None:
    async def scenario() -> list[Any]:
        gateway = make_gateway()
        async with serving(gateway) as http:
            before = (await http.post(URL, json={"inputs": row()}, headers=AUTH)).json()
            world.model("m@production", ConstantModel(0.9), "7")  # a new Production version
            pending = asyncio.create_task(http.post(URL, json={"inputs": row()}, headers=AUTH))
            await gateway.refresh()
            in_flight = await pending
            after = (await http.post(URL, json={"inputs": row()}, headers=AUTH)).json()
            world.put(spec(request={**{f"f{i}": "float" for i in range(4)}, "extra": "int"}))
            await gateway.refresh()
            renamed = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            return [before, in_flight, after, renamed]

    before, in_flight, after, renamed = run(scenario())
    assert before["model_version"] == "3"
    assert in_flight.status_code == 200
    assert after.get("model_version") == "7", after
    assert after["prediction"] == 0.9
    assert renamed.status_code == 422  # the new schema requires "extra"


def test_a_deleted_model_version_or_a_down_database_keeps_the_loaded_model_serving(
    make_gateway: GatewayFactory, world: World
) -> None:
    async def scenario() -> list[Any]:
        gateway = make_gateway()
        async with serving(gateway) as http:
            del world.models["m@production"]
            await gateway.refresh()
            a = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            world.fail_endpoints = True
            await gateway._poll_once()  # a failed poll is logged, not raised
            b = await http.post(URL, json={"inputs": row()}, headers=AUTH)
            return [a, b, (await http.get("/metrics")).text]

    a, b, metrics = run(scenario())
    assert a.status_code == 200 and a.json()["model_version"] == "3"
    assert b.status_code == 200
    assert 'modelward_gateway_reload_errors_total{endpoint="m"} 1.0' in metrics


def test_health_and_readiness(make_gateway: GatewayFactory, world: World) -> None:
    world.put(spec(name="broken", model="missing@1"))

    async def scenario() -> list[Any]:
        async with serving(make_gateway()) as http:
            return [await http.get("/healthz"), await http.get("/readyz")]

    health, ready = run(scenario())
    assert health.json() == {"status": "alive"}
    assert ready.status_code == 503
    assert "missing@1" in ready.json()["problems"]["broken"]
    assert ready.json()["endpoints"]["m"]["model_version"] == "3"


def test_pii_fields_are_redacted_in_the_prediction_log(
    make_gateway: GatewayFactory, world: World, sink: MemoryPredictionSink
) -> None:
    request = {**{f"f{i}": "float" for i in range(4)}, "email": "string"}
    world.put(spec(request=request, pii_fields=["email"], model_inputs=[f"f{i}" for i in range(4)]))

    async def scenario() -> Any:
        async with serving(make_gateway()) as http:
            return await http.post(
                URL, json={"inputs": {**row(), "email": "a@example.com"}}, headers=AUTH
            )

    assert run(scenario()).status_code == 200
    assert sink.read()[0].inputs["email"] == "[redacted]"


class CountingModel(ConstantModel):
    def __init__(self, p: float) -> None:
        super().__init__(p)
        self.calls = 0

    def predict_proba(self, x: Any) -> Any:
        if len(x) and x.any():  # warm-up calls score zeros; count only real requests
            self.calls += 1
        return super().predict_proba(x)


def test_response_cache_answers_repeats_without_calling_the_model(
    make_gateway: GatewayFactory, world: World, sink: MemoryPredictionSink
) -> None:
    model = CountingModel(0.3)
    world.model("m@production", model, "8")
    world.put(spec(cache_ttl_s=60))

    async def scenario() -> list[Any]:
        async with serving(make_gateway()) as http:
            return [
                (await http.post(URL, json={"inputs": row()}, headers=AUTH)).json()
                for _ in range(3)
            ]

    answers = run(scenario())
    assert [a["degraded"] for a in answers] == [False, False, False]
    assert model.calls == 1  # only the first request reached the model
    assert len(sink.read()) == 3  # every answer is logged, cached or not


def test_tracing_records_validate_features_and_model_spans(
    make_gateway: GatewayFactory,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def scenario() -> None:
        gateway = make_gateway(tracing=True)
        from opentelemetry import trace

        gateway._tracer = trace.get_tracer("modelward.serving", tracer_provider=provider)
        async with serving(gateway) as http:
            await http.post(URL, json={"inputs": row()}, headers=AUTH)

    run(scenario())
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert {"gateway.request", "validate", "predict", "model"} <= set(spans)
    root = spans["gateway.request"].context.span_id
    assert spans["validate"].parent is not None and spans["validate"].parent.span_id == root
    assert spans["model"].parent.span_id == spans["predict"].context.span_id  # type: ignore[union-attr]


def test_a_full_prediction_log_queue_counts_drops_in_metrics(
    make_gateway: GatewayFactory, sink: MemoryPredictionSink
) -> None:
    async def scenario() -> str:
        gateway = make_gateway()
        gateway.writer.capacity = 2
        sink.unavailable = True  # the writer cannot empty its queue
        async with serving(gateway) as http:
            for _ in range(5):
                assert (await http.post(URL, json={"inputs": row()}, headers=AUTH)).is_success
            text = (await http.get("/metrics")).text
            sink.unavailable = False
            return text

    text = run(scenario())
    assert "modelward_prediction_log_dropped_total 3.0" in text
    assert "modelward_prediction_log_queue_depth 2.0" in text
    assert len(sink.read()) == 2  # what was queued is written once the sink is back


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(
    make_gateway: GatewayFactory,
) -> None:
    chunk = b"x" * 65_536
    sent: list[dict[str, Any]] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": chunk, "more_body": True}  # never ends

    async def send(message: Any) -> None:
        sent.append(message)

    async def scenario() -> None:
        gateway = make_gateway(max_body_bytes=1_048_576)
        await gateway.startup()
        scope = {
            "type": "http",
            "method": "POST",
            "path": URL,
            "headers": [(b"authorization", b"Bearer tok-alice")],
        }
        await gateway(scope, receive, send)
        await gateway.shutdown()

    run(scenario())
    assert sent[0]["status"] == 413
    assert reads == 17  # read up to just past 1 MiB, then stopped


def test_a_token_is_checked_once_however_many_requests_bring_it(
    make_gateway: GatewayFactory,
) -> None:
    from modelward.serving.auth import TokenVerifier
    from tests.unit.serving.support import authenticate

    checks: list[str] = []

    def counting(token: str) -> Any:
        checks.append(token)
        return authenticate(token)

    async def scenario() -> list[int]:
        gateway = make_gateway()
        gateway.verifier = TokenVerifier(counting, ttl_s=60)
        async with serving(gateway) as http:
            answers = await asyncio.gather(
                *(http.post(URL, json={"inputs": row()}, headers=AUTH) for _ in range(20)),
                *(
                    http.post(URL, json={"inputs": row()}, headers={"Authorization": "Bearer no"})
                    for _ in range(5)
                ),
            )
        return [a.status_code for a in answers]

    codes = run(scenario())
    assert codes == [200] * 20 + [401] * 5
    assert sorted(checks) == ["no", "tok-alice"]  # no database check per request

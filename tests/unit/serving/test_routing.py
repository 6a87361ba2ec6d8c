"""A release on the gateway: who answers, what a refused or failed request logs, and shadow
copies scored off the path, bounded, each logged with role ``shadow``."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from modelward.errors import Conflict, InputError, PermissionDenied, RequestInvalid
from modelward.monitoring import PredictionRecord
from modelward.rollout import Route, TrafficPlan
from modelward.security.roles import Principal, Role
from modelward.serving.routing import (
    ARM_HEADER,
    Routing,
    ShadowScorer,
    failure_records,
    rejection_records,
    smoke_route,
)
from tests.unit.serving.support import FIELDS, ConstantModel, endpoint_runtime, row

OPERATOR = Principal("olga", Role.OPERATOR)
FIELDS_WITH_EMAIL = {**FIELDS, "customer_id": "int", "email": "string"}


runtime = endpoint_runtime


def canary(weight: float) -> Routing:
    plan = TrafficPlan.canary("m@1", "m@2", weight=weight, release_id="rel-1")
    return Routing(plan, runtime(ConstantModel(0.9), "2"), entity_key="customer_id")


def test_a_sticky_key_sends_one_customer_to_one_arm_every_time() -> None:
    routing = canary(50.0)
    routes = {
        c: {routing.route({"customer_id": c}, f"req-{i}").role for i in range(5)} for c in range(40)
    }
    assert all(len(roles) == 1 for roles in routes.values())  # sticky per customer
    assert {r for roles in routes.values() for r in roles} == {"primary", "candidate"}
    assert routing.candidate_version == "2"


def test_smoke_routes_to_the_candidate_for_an_operator_only() -> None:
    routing = canary(0.0)
    assert smoke_route(routing, "candidate", OPERATOR, "m") == Route("m@2", "smoke", None, "rel-1")
    with pytest.raises(PermissionDenied) as denied:
        smoke_route(routing, "candidate", Principal("dev", Role.DEVELOPER), "m")
    assert denied.value.details["permission"] == "releases:operate"


def test_smoke_refuses_an_unknown_arm_naming_the_header() -> None:
    with pytest.raises(InputError, match="is not an arm; use candidate") as refused:
        smoke_route(canary(0.0), "green" * 20, OPERATOR, "m")
    assert refused.value.details["field"] == ARM_HEADER
    assert "green" * 8 in refused.value.message and "green" * 9 not in refused.value.message


def test_smoke_without_a_release_candidate_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="no release with a loaded candidate splits endpoint 'm'"):
        smoke_route(None, "candidate", OPERATOR, "m")
    single = Routing(TrafficPlan.single("m@1"), runtime(ConstantModel(0.5)))
    with pytest.raises(Conflict):
        smoke_route(single, "candidate", OPERATOR, "m")


def test_a_failed_arm_logs_one_row_per_input_row_with_its_pii_redacted() -> None:
    arm = runtime(ConstantModel(0.5), "2", request=FIELDS_WITH_EMAIL, pii_fields=["email"])
    route = Route("m@2", "candidate", None, "rel-1")
    rows = [{**row(), "email": "a@x.io"}, {**row(), "email": "b@x.io"}]
    records = failure_records(arm, "req", rows, 12.5, route, "ModelFailed")
    assert [r.request_id for r in records] == ["req/0", "req/1"]
    assert {r.inputs["email"] for r in records} == {"[redacted]"}
    assert {(r.role, r.release_id, r.error, r.degraded, r.prediction) for r in records} == {
        ("candidate", "rel-1", "ModelFailed", True, None)
    }
    one = failure_records(arm, "solo", rows[:1], 1.0, route, "x")
    assert [r.request_id for r in one] == ["solo"]  # one row: the request's own id
    assert rows[0]["email"] == "a@x.io"  # the caller's row is not redacted in place


def _invalid(field: str = "f0") -> RequestInvalid:
    errors = [{"field": f"inputs[0].{field}", "rule": "must be a number"}]
    return RequestInvalid("bad", errors=errors)


def test_a_refused_request_logs_its_valid_fields_and_the_broken_rule() -> None:
    primary = runtime(ConstantModel(0.5))
    body = orjson.dumps({"inputs": [{**row(), "f0": "high"}]})
    [record] = rejection_records(primary, None, body, "req", 3.0, _invalid())
    assert record.role == "rejected" and record.prediction is None and not record.degraded
    assert record.inputs == {"f0": None, "f1": 0.5, "f2": 0.5, "f3": 0.5}
    assert record.error.endswith("inputs[0].f0 must be a number")
    assert (record.model_version, record.release_id) == ("1", "")


@pytest.mark.parametrize(
    ("routing", "versions"),
    [
        (canary(100.0), ["2"]),  # the candidate would have answered it
        (canary(0.0), ["1"]),
        (
            Routing(
                TrafficPlan.shadow("m@1", "m@2", percent=100.0, release_id="rel-1"),
                runtime(ConstantModel(0.9), "2"),
            ),
            ["1", "2"],  # the shadow's candidate would have scored the copy too
        ),
    ],
)
def test_a_refused_request_is_charged_to_the_versions_it_would_have_reached(
    routing: Routing, versions: list[str]
) -> None:
    body = orjson.dumps({"inputs": {**row(), "f1": None}})
    records = rejection_records(runtime(ConstantModel(0.5)), routing, body, "r", 1.0, _invalid())
    assert [r.model_version for r in records] == versions
    assert {r.release_id for r in records} == {"rel-1"}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"inputs": []}', b'{"inputs": 3}'])
def test_a_refused_body_with_no_readable_row_logs_every_field_as_none(body: bytes) -> None:
    [record] = rejection_records(runtime(ConstantModel(0.5)), None, body, "r", 1.0, _invalid())
    assert record.inputs == dict.fromkeys(FIELDS)


def test_a_refused_request_never_logs_a_pii_value() -> None:
    primary = runtime(ConstantModel(0.5), request=FIELDS_WITH_EMAIL, pii_fields=["email"])
    body = orjson.dumps({"inputs": [{**row(), "customer_id": 7, "email": "c@x.io", "f0": "?"}]})
    [record] = rejection_records(primary, None, body, "r", 1.0, _invalid())
    assert record.inputs["email"] == "[redacted]" and record.inputs["customer_id"] == 7


class Log:
    def __init__(self) -> None:
        self.records: list[PredictionRecord] = []
        self.lock = threading.Lock()

    def __call__(self, record: PredictionRecord) -> None:
        with self.lock:
            self.records.append(record)

    def wait_for(self, count: int) -> list[PredictionRecord]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.records) >= count:
                    return list(self.records)
            time.sleep(0.005)
        raise AssertionError(f"{len(self.records)} of {count} shadow rows logged")


def _count(registry: CollectorRegistry, outcome: str) -> float:
    value = registry.get_sample_value(
        "modelward_gateway_shadow_total", {"endpoint": "m", "outcome": outcome}
    )
    return value or 0.0


def test_shadow_copies_are_logged_as_shadow_with_the_candidates_answer() -> None:
    registry = CollectorRegistry()
    scorer = ShadowScorer(registry, linger_s=0.0)
    candidate = runtime(ConstantModel(0.9), "2", request=FIELDS_WITH_EMAIL, pii_fields=["email"])
    log = Log()
    rows = [
        {**row(), "customer_id": 1, "email": "a@x.io"},
        {**row(), "customer_id": 2, "email": "b"},
    ]
    assert scorer.offer(candidate, rows, "req", "rel-1", log)
    records = log.wait_for(2)
    asyncio.run(scorer.close())
    assert [r.request_id for r in records] == ["req/0", "req/1"]
    assert {(r.role, r.release_id, r.model_version, r.error) for r in records} == {
        ("shadow", "rel-1", "2", "")
    }
    assert [r.prediction for r in records] == pytest.approx([0.9, 0.9])
    assert {r.inputs["email"] for r in records} == {"[redacted]"}
    assert _count(registry, "scored") == 1 and _count(registry, "failed") == 0


class CrashingModel:
    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.armed = False

    def predict_proba(self, x: Any) -> Any:
        if self.armed:  # after the load's warm-up
            raise ZeroDivisionError("the candidate crashed")
        return np.tile([0.5, 0.5], (len(x), 1))


def test_a_crashing_candidate_is_logged_and_counted_failed_never_raised() -> None:
    registry = CollectorRegistry()
    scorer = ShadowScorer(registry, linger_s=0.0)
    model = CrashingModel()
    candidate = runtime(model, "2")
    model.armed = True
    log = Log()
    assert scorer.offer(candidate, [row()], "req", "rel-1", log)
    [record] = log.wait_for(1)
    asyncio.run(scorer.close())
    assert record.request_id == "req" and record.prediction is None and record.degraded
    assert record.error  # the failure's type, for the judge's error rate
    assert _count(registry, "failed") == 1 and _count(registry, "scored") == 0


class HangingModel:
    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict_proba(self, x: Any) -> Any:
        if self.armed:
            self.entered.set()
            self.release.wait(10)
        return np.tile([0.5, 0.5], (len(x), 1))


def test_a_hung_candidate_holds_at_most_capacity_copies_and_the_rest_are_dropped() -> None:
    registry = CollectorRegistry()
    scorer = ShadowScorer(registry, capacity=2, linger_s=0.0)
    model = HangingModel()
    candidate = runtime(model, "2")
    model.armed = True
    log = Log()
    try:
        assert scorer.offer(candidate, [row()], "a", "rel-1", log)
        assert model.entered.wait(10)  # copy "a" is being scored and hangs
        assert scorer.offer(candidate, [row()], "b", "rel-1", log)  # queued behind it
        assert scorer.in_flight == 2
        assert not scorer.offer(candidate, [row()], "c", "rel-1", log)  # over capacity
        assert _count(registry, "dropped") == 1
    finally:
        model.release.set()
    assert sorted(r.request_id for r in log.wait_for(2)) == ["a", "b"]
    asyncio.run(scorer.close())
    assert scorer.in_flight == 0


def test_a_closed_scorer_mirrors_again_once_restarted() -> None:
    scorer = ShadowScorer(CollectorRegistry(), linger_s=0.0)
    candidate = runtime(ConstantModel(0.9), "2")
    log = Log()
    asyncio.run(scorer.close())  # closing a scorer that never started is harmless
    assert scorer.offer(candidate, [row()], "after", "rel-1", log)
    assert [r.request_id for r in log.wait_for(1)] == ["after"]
    asyncio.run(scorer.close())

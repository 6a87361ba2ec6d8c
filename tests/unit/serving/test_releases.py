"""Starting a release from an endpoint's definition, and a blue-green switch made only after
green answered the golden rows through the gateway's HTTP path."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from modelward import rollout
from modelward.config import Workspace
from modelward.errors import CheckFailed, InputError
from modelward.rollout import GoldenRows, RolloutPolicy
from modelward.serving import EndpointSpec
from modelward.serving.endpoints import create_endpoint
from modelward.serving.releases import advance_release, golden_rows_of, start_release, switch
from modelward.serving.routing import ARM_HEADER
from tests.unit.rollout.support import Setup, setup

GOLDEN = GoldenRows(
    [{"customer_id": 1, "tenure": 3.0, "label": 1}, {"customer_id": 2, "tenure": 9.0, "label": 0}],
    [0.8, 0.2],
)


@pytest.fixture
def w(sqlite_workspace: Workspace) -> Iterator[Setup]:
    made = setup(sqlite_workspace)
    spec = EndpointSpec(
        name="churn", model=made.baseline, request={"customer_id": "int", "tenure": "float"}
    )
    create_endpoint(made.session, made.operator, spec)
    yield made
    made.session.close()


def blue_green(w: Setup) -> rollout.Release:
    return start_release(
        w.session, w.operator, "churn", candidate=w.candidate, strategy="blue_green"
    )


def gateway(answer: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(answer), base_url="http://gateway")


def test_a_release_starts_from_the_endpoints_model_as_baseline(w: Setup) -> None:
    release = start_release(
        w.session, w.operator, "churn", candidate=w.candidate, strategy="canary"
    )
    assert (release.baseline, release.candidate, release.endpoint) == (
        w.baseline,
        w.candidate,
        "churn",
    )


def test_a_sticky_field_must_be_a_request_field_of_the_endpoint(w: Setup) -> None:
    with pytest.raises(InputError, match=r"'email' is not a request field of churn") as refused:
        start_release(
            w.session,
            w.operator,
            "churn",
            candidate=w.candidate,
            strategy="canary",
            policy=RolloutPolicy(sticky_by="email"),
        )
    assert refused.value.details["field"] == "policy.sticky_by"
    assert "(customer_id, tenure)" in refused.value.message  # what it may be instead


def test_green_answering_the_golden_rows_switches_the_release(w: Setup) -> None:
    blue_green(w)
    asked: list[httpx.Request] = []

    def green(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(
            200, json={"model": "churn", "model_version": "2", "predictions": [0.8, 0.2000001]}
        )

    # within the tolerance (1e-6) of the expected 0.2
    release = switch(
        w.session, w.operator, "churn", gateway=gateway(green), token="t", golden=GOLDEN
    )
    assert release.step == 1  # green is live
    [request] = asked
    assert (
        request.headers[ARM_HEADER] == "candidate"
        and request.headers["authorization"] == "Bearer t"
    )
    # only the request's fields are sent: the golden row's label is not one
    assert json.loads(request.content) == {
        "inputs": [{"customer_id": 1, "tenure": 3.0}, {"customer_id": 2, "tenure": 9.0}]
    }


def _refused_switch(w: Setup, answer: Callable[[httpx.Request], httpx.Response]) -> str:
    blue_green(w)
    with pytest.raises(CheckFailed) as refused:
        switch(w.session, w.operator, "churn", gateway=gateway(answer), token="t", golden=GOLDEN)
    [gate] = refused.value.details["gate_results"]
    assert (gate["gate"], gate["passed"]) == ("blue_green_smoke", False)
    release = rollout.current_release(w.session, "churn")
    assert release.step == 0  # no switch: blue still answers everything
    assert release.last_analysis is not None and "smoke" in release.last_analysis  # kept
    return refused.value.message


def test_a_wrong_answer_from_green_is_no_switch_and_is_kept_on_the_release(w: Setup) -> None:
    message = _refused_switch(
        w,
        lambda _: httpx.Response(
            200, json={"model": "churn", "model_version": "2", "predictions": [0.8, 0.9]}
        ),
    )
    assert message.startswith(f"no switch to {w.candidate} on churn:")


def test_blue_answering_means_the_gateway_has_not_loaded_green_yet(w: Setup) -> None:
    message = _refused_switch(
        w,
        lambda _: httpx.Response(
            200, json={"model": "churn", "model_version": "1", "predictions": [0.8, 0.2]}
        ),
    )
    assert "has not loaded green yet" in message


def test_a_gateway_error_or_outage_is_named_in_the_refusal(w: Setup) -> None:
    message = _refused_switch(
        w, lambda _: httpx.Response(503, json={"title": "unavailable", "detail": "warming up"})
    )
    assert "the gateway answered 503: warming up" in message


def test_an_unreachable_gateway_is_no_switch(w: Setup) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert "the gateway cannot be reached" in _refused_switch(w, down)


def test_a_candidate_without_a_golden_set_cannot_be_smoke_tested(w: Setup) -> None:
    blue_green(w)
    assert golden_rows_of(w.session, w.candidate) is None  # no pipeline run stored one
    never = gateway(lambda _: pytest.fail("the gateway was asked"))
    with pytest.raises(CheckFailed, match="has no golden set to smoke-test green with"):
        switch(w.session, w.operator, "churn", gateway=never, token="t")


def test_without_a_gateway_a_blue_green_switch_needs_skip_smoke_said(w: Setup) -> None:
    blue_green(w)
    with pytest.raises(CheckFailed, match="smoke-tested through the gateway first"):
        advance_release(w.session, w.operator, "churn")
    assert rollout.current_release(w.session, "churn").step == 0
    assert advance_release(w.session, w.operator, "churn", skip_smoke=True).step == 1


def test_a_canary_advances_without_any_smoke_test(w: Setup) -> None:
    start_release(w.session, w.operator, "churn", candidate=w.candidate, strategy="canary")
    never = gateway(lambda _: pytest.fail("a canary step asked the gateway"))
    assert switch(w.session, w.operator, "churn", gateway=never, token="t").step == 1
    assert advance_release(w.session, w.operator, "churn").step == 2

"""PII fields are redacted in every logged row: batches, degraded answers, fallback models.

A check of the first logged row only cannot tell "every row" from "row 0": so each case
sends a batch whose rows carry different e-mail addresses and looks at all of them, and
at the raw text of each record, where no address may appear.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving.endpoints import Fallback
from tests.unit.serving.support import (
    AUTH,
    GatewayFactory,
    RaisingModel,
    World,
    row,
    run,
    serving,
    spec,
)

URL = "/v1/endpoints/m/predict"
REQUEST = {**{f"f{i}": "float" for i in range(4)}, "email": "string", "phone": "string"}
MODEL_INPUTS = [f"f{i}" for i in range(4)]
ROWS = [
    {**row(0.1 * i), "email": f"person{i}@example.com", "phone": f"tel-qx{i:02d}"} for i in range(5)
]


def _post_batch(make_gateway: GatewayFactory) -> Any:
    async def scenario() -> Any:
        async with serving(make_gateway()) as http:
            return await http.post(URL, json={"inputs": ROWS}, headers=AUTH)

    return run(scenario())


def _assert_every_row_redacted(sink: MemoryPredictionSink, *, degraded: bool) -> None:
    logged = sink.read("m")
    assert len(logged) == len(ROWS)
    assert [r.request_id.rsplit("/", 1)[1] for r in logged] == [str(i) for i in range(len(ROWS))]
    for i, record in enumerate(logged):
        assert record.degraded is degraded
        assert record.inputs["email"] == "[redacted]", i
        assert record.inputs["phone"] == "[redacted]", i
        # the other fields are logged as sent
        assert {k: record.inputs[k] for k in MODEL_INPUTS} == {k: ROWS[i][k] for k in MODEL_INPUTS}
        text = repr(record)
        assert "example.com" not in text and "tel-qx" not in text, i


@pytest.fixture
def pii_world(world: World) -> World:
    world.put(spec(request=REQUEST, pii_fields=["email", "phone"], model_inputs=MODEL_INPUTS))
    return world


def test_every_row_of_an_answered_batch_is_redacted(
    make_gateway: GatewayFactory, pii_world: World, sink: MemoryPredictionSink
) -> None:
    answer = _post_batch(make_gateway)
    assert answer.status_code == 200 and answer.json()["degraded"] is False
    _assert_every_row_redacted(sink, degraded=False)


def test_every_row_of_a_degraded_batch_is_redacted(
    make_gateway: GatewayFactory, pii_world: World, sink: MemoryPredictionSink
) -> None:
    pii_world.model("m@production", RaisingModel(), "4")
    pii_world.put(
        spec(
            request=REQUEST,
            pii_fields=["email", "phone"],
            model_inputs=MODEL_INPUTS,
            fallback=Fallback(response=0.5),
        )
    )
    answer = _post_batch(make_gateway)
    assert answer.status_code == 200
    body = answer.json()
    assert body["degraded"] is True and body["predictions"] == [0.5] * len(ROWS)
    _assert_every_row_redacted(sink, degraded=True)


def test_every_row_answered_by_a_fallback_model_is_redacted(
    make_gateway: GatewayFactory, pii_world: World, sink: MemoryPredictionSink, classifier: Any
) -> None:
    pii_world.model("m@production", RaisingModel(), "4")
    pii_world.model("m@2", classifier, "2")
    pii_world.put(
        spec(
            request=REQUEST,
            pii_fields=["email", "phone"],
            model_inputs=MODEL_INPUTS,
            fallback=Fallback(model="m@2"),
        )
    )
    answer = _post_batch(make_gateway)
    assert answer.status_code == 200 and answer.json()["degraded"] is True
    _assert_every_row_redacted(sink, degraded=True)
    assert {r.model_version for r in sink.read("m")} == {"2"}

"""An endpoint runtime keeps answering the requests that picked it up after it is retired."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelward.serving.binding import model_columns
from modelward.serving.models import load_object
from modelward.serving.runtime import EndpointRuntime
from modelward.serving.schema import RequestSchema
from tests.unit.serving.support import FIELDS, ConstantModel, SleepyModel, row, spec


def test_a_retired_runtime_scores_late_requests_inline() -> None:
    endpoint = spec(batching=True)
    columns = model_columns(endpoint, FIELDS, [])
    model = load_object(
        ConstantModel(0.7), name="m", version="1", uri="mem", output="auto", columns=columns
    )
    runtime = EndpointRuntime(endpoint, 1, model, columns, RequestSchema("m", FIELDS, 10))

    async def scenario() -> list[float]:
        before = await runtime.predict([row()], 1.0)
        runtime.close()  # what a hot reload does to the runtime it replaced
        after = await runtime.predict([row(), row()], 1.0)
        return [*before.predictions, *after.predictions]

    assert asyncio.run(scenario()) == [0.7, 0.7, 0.7]


@pytest.mark.parametrize(
    ("isolate", "batching"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_every_execution_mode_answers_concurrent_requests(isolate: bool, batching: bool) -> None:
    endpoint = spec(batching=batching, isolate_model=isolate)
    columns = model_columns(endpoint, FIELDS, [])
    model = load_object(
        ConstantModel(0.2), name="m", version="1", uri="mem", output="auto", columns=columns
    )
    runtime = EndpointRuntime(endpoint, 1, model, columns, RequestSchema("m", FIELDS, 10))

    async def scenario() -> list[Any]:
        answers = await asyncio.gather(*(runtime.predict([row()], 1.0) for _ in range(20)))
        runtime.close()
        return answers

    answers = asyncio.run(scenario())
    assert [a.predictions for a in answers] == [[0.2]] * 20
    if batching:  # requests that were waiting together shared model calls
        assert max(a.batch_size for a in answers) > 1


def test_on_the_event_loop_an_overrun_is_a_timeout_once_the_call_returns() -> None:
    slow = SleepyModel(seconds=0.05)
    endpoint = spec(batching=False, isolate_model=False)
    columns = model_columns(endpoint, FIELDS, [])
    model = load_object(slow, name="m", version="1", uri="mem", output="auto", columns=columns)
    runtime = EndpointRuntime(endpoint, 1, model, columns, RequestSchema("m", FIELDS, 10))
    slow.armed.set()
    with pytest.raises(TimeoutError, match="overran the budget"):
        asyncio.run(runtime.predict([row()], 0.01))

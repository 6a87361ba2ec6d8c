"""Wiring a stream consumer: every refusal comes before a model is loaded or a connection
made, names its option, and a signal stops the consumer instead of killing it.

(A consumer scoring a real Redis stream end to end is in
tests/integration/flows/test_serving_streaming_consumer.py.)"""

from __future__ import annotations

import signal
import threading
from typing import Any

import pytest

from modelward.errors import InputError
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving import EndpointSpec
from modelward.serving.models import ObjectModelLoader, StaticModelResolver
from modelward.serving.streaming.wiring import StreamResult, _stopped_by_signals, stream_score

# port 1: nothing listens, so a test that reached a connection would fail loudly
SOURCE = "redis://127.0.0.1:1/0?stream=events&group=scorers"
SINK = "redis://127.0.0.1:1/0?stream=scores"
SPEC = EndpointSpec(name="churn", model="churn@1", request={"a": "float"})


class CountingLoader(ObjectModelLoader):
    def __init__(self) -> None:
        self.loads = 0

    def load(self, *args: Any, **kw: Any) -> Any:
        self.loads += 1
        return super().load(*args, **kw)


def score(target: Any = SPEC, source: str = SOURCE, sink: str = SINK, **kw: Any) -> StreamResult:
    loader = CountingLoader()
    kw.setdefault("resolver", StaticModelResolver({}))
    try:
        return stream_score(
            target, source, sink, loader=loader, prediction_log=MemoryPredictionSink(), **kw
        )
    finally:
        assert loader.loads == 0, "a refused consumer loaded its model"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"wait_s": -0.1}, "wait_s"),
    ],
)
def test_a_setting_out_of_range_is_refused_naming_it(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as refused:
        score(**options)
    assert refused.value.details["field"] == field


@pytest.mark.parametrize(
    ("urls", "option"),
    [
        ({"source": "events"}, "--source"),
        ({"sink": "kafka://broker:9092?topic=scores"}, "--sink"),
        ({"dead_letter": "redis://127.0.0.1:1/0?stream=d&stream=e"}, "--dead-letter"),
    ],
)
def test_a_bad_stream_url_is_refused_naming_its_option(urls: dict[str, str], option: str) -> None:
    with pytest.raises(InputError) as refused:
        score(**urls)
    assert str(refused.value.details["field"]).startswith(option)


def test_an_endpoint_taking_its_fields_from_the_signature_is_refused() -> None:
    signed = EndpointSpec(name="churn", model="churn@1", request="from_signature")
    with pytest.raises(InputError, match="which streaming does not read yet") as refused:
        score(signed)
    assert refused.value.details["field"] == "request"


def test_model_inputs_nobody_provides_are_refused() -> None:
    ghost = EndpointSpec(name="churn", model="churn@1", request={"a": "float"}, model_inputs=["b"])
    with pytest.raises(InputError, match="b is neither a request field nor an online feature"):
        score(ghost)


def test_an_endpoint_by_name_needs_a_session() -> None:
    with pytest.raises(InputError, match="needs a workspace session"):
        stream_score(
            "churn",
            SOURCE,
            SINK,
            resolver=StaticModelResolver({}),
            loader=ObjectModelLoader(),
            prediction_log=MemoryPredictionSink(),
        )


def test_a_signal_sets_stop_and_the_old_handlers_come_back() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are set from the main thread only")
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    stop = threading.Event()
    with _stopped_by_signals(stop):
        signal.raise_signal(signal.SIGINT)  # what Ctrl-C sends: no KeyboardInterrupt here
        assert stop.is_set()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_off_the_main_thread_no_handler_is_touched() -> None:
    before = signal.getsignal(signal.SIGINT)
    seen: list[Any] = []

    def consumer_thread() -> None:
        with _stopped_by_signals(threading.Event()):
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=consumer_thread)
    thread.start()
    thread.join(10)
    assert seen == [before]

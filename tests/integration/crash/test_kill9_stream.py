"""kill -9 and SIGTERM of a stream consumer: every event scored exactly once in the sink.

The child consumes a Redis stream with the workspace's SQLite prediction log and is
killed at a named point of its second batch; the parent, as a restarted consumer would
(under the same name, or another that takes the dead one's events over), consumes again
and counts the outputs and the log lines per event id.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest

from modelward.config import Workspace
from modelward.monitoring import open_workspace_log
from modelward.serving import EndpointSpec, stream_score
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.serving.streaming.addresses import open_stream
from modelward.serving.streaming.base import Message
from modelward.session import Session
from tests.integration.backends.streams import Streams, streams_on
from tests.integration.crash.harness import Child, kill_at

pytestmark = [pytest.mark.redis, pytest.mark.slow]

EVENTS = 300
BATCH = 50

CHILD = """
import sys
import numpy as np
from modelward.config import Workspace
from modelward.serving import EndpointSpec, stream_score
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.session import Session

root, source, sink, point = sys.argv[1:5]

class Logistic:
    classes_ = np.array([0, 1])
    def predict_proba(self, x):
        p = 1 / (1 + np.exp(-x.sum(axis=1)))
        return np.column_stack([1 - p, p])

calls = []
def second_batch(self, items):
    if not self.config.stream.endswith("-scores"):
        return False
    calls.append(1)
    return len(calls) == 2

if point == "written":  # batch 2's outputs are in the sink; not logged, not acknowledged
    pause_at("modelward.serving.streaming.redis:RedisEventStream.write", "stopped",
             when="after", only_if=second_batch)
elif point == "logged":  # logged as well; not acknowledged
    acks = []
    def second_ack(self, events):
        acks.append(1)
        return len(acks) == 2
    pause_at("modelward.serving.streaming.redis:RedisEventStream.ack", "stopped",
             only_if=second_ack)
elif point == "sigterm":
    pass

session = Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"}))
result = stream_score(
    EndpointSpec(name="sums", model="sums@1", request={"id": "int", "a": "float", "b": "float"}),
    source, sink, session=session, batch_size=50, max_in_flight=2,
    resolver=StaticModelResolver(
        {"sums@1": ResolvedModel("sums", "1", "mem://sums/1", Logistic())}
    ),
    loader=ObjectModelLoader(),
    on_batch=lambda counts: print("BATCH", counts.scored, flush=True),
)
print("RESULT " + __import__("json").dumps(result.to_dict()), flush=True)
"""


class Logistic:
    classes_ = np.array([0, 1])

    def predict_proba(self, x: Any) -> Any:
        p = 1 / (1 + np.exp(-x.sum(axis=1)))
        return np.column_stack([1 - p, p])


SPEC = EndpointSpec(name="sums", model="sums@1", request={"id": "int", "a": "float", "b": "float"})


@pytest.fixture
def streams() -> Iterator[Streams]:
    yield from streams_on("redis")


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def _produce(streams: Streams) -> None:
    sink = open_stream(streams.url("events"), "--sink")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=EVENTS).tolist(), rng.normal(size=EVENTS).tolist()
    try:
        sink.write(
            [Message(f"e{i}", orjson.dumps({"id": i, "a": a[i], "b": b[i]})) for i in range(EVENTS)]
        )
    finally:
        sink.close()


def _consume(session: Session, streams: Streams, consumer: str) -> Any:
    return stream_score(
        SPEC,
        streams.url("events", group="scorers", consumer=consumer),
        streams.url("scores"),
        session=session,
        batch_size=BATCH,
        wait_s=0.3,
        until_idle=True,
        resolver=StaticModelResolver(
            {"sums@1": ResolvedModel("sums", "1", "mem://sums/1", Logistic())}
        ),
        loader=ObjectModelLoader(),
    )


def _outputs(streams: Streams) -> Counter[str]:
    source = open_stream(streams.url("scores", group="verify"), "--source")
    seen: Counter[str] = Counter()
    try:
        while batch := source.read(1000, 0.3):
            seen.update(e.id for e in batch)
    finally:
        source.close()
    return seen


def _logged(session: Session) -> Counter[str]:
    log = open_workspace_log(session)
    try:
        return Counter(r.request_id for r in log.read("sums"))
    finally:
        log.close()


@pytest.mark.parametrize(
    ("point", "restarted_as"),
    [
        # outputs written, the log and the acknowledgement never happened; the same
        # consumer starts again and reads back what it held
        ("written", "c1"),
        # logged too; another consumer takes the dead one's events over (XAUTOCLAIM)
        ("logged", "c2"),
    ],
)
def test_a_killed_consumer_restarted_scores_every_event_exactly_once(
    session: Session, streams: Streams, point: str, restarted_as: str
) -> None:
    _produce(streams)
    source = streams.url("events", group="scorers", consumer="c1")
    root = str(session.workspace.root)
    kill_at(CHILD, root, source, streams.url("scores"), point, label="stopped")
    before = _outputs(streams)
    assert 0 < sum(before.values()) < EVENTS  # it died midway

    result = _consume(session, streams, restarted_as)

    assert result.redelivered > 0
    outputs = _outputs(streams)
    assert sorted(outputs) == sorted(f"e{i}" for i in range(EVENTS))
    assert set(outputs.values()) == {1}  # no loss, no duplicate
    logged = _logged(session)
    assert sorted(logged) == sorted(f"e{i}" for i in range(EVENTS))
    assert set(logged.values()) == {1}


def test_sigterm_finishes_the_batches_in_flight_acknowledges_them_and_exits(
    session: Session, streams: Streams
) -> None:
    _produce(streams)
    source = streams.url("events", group="scorers", consumer="c1")
    root = str(session.workspace.root)
    child = Child(CHILD, root, source, streams.url("scores"), "sigterm", new_session=False)
    try:
        child.wait_for(lambda line: line.startswith("BATCH"), "a scored batch", 120)
        child.send_signal(signal.SIGTERM)
        returncode = child.finish(60)
    finally:
        child.close()
    assert returncode == 0, child.stderr
    result = json.loads(next(x for x in child.lines if x.startswith("RESULT "))[7:])
    outputs = _outputs(streams)
    assert sum(outputs.values()) == result["scored"] == result["events"]
    # nothing was left pending: the same consumer, started again, is handed nothing back
    again = open_stream(source, "--source")
    try:
        left = again.read(EVENTS, 0.3)
    finally:
        again.close()
    assert not any(e.redelivered for e in left)
    assert len(left) == EVENTS - result["events"]

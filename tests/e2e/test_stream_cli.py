"""`modelward stream` as a user runs it: a registered MLflow model behind an endpoint, events
on Redis Streams, outputs keyed by event id, a dead letter, the workspace's SQLite log."""

from __future__ import annotations

import json
from collections.abc import Iterator

import orjson
import pytest

from modelward.config import Workspace
from modelward.monitoring import open_workspace_log
from modelward.security.tokens import bootstrap_admin
from modelward.serving.streaming.addresses import open_stream
from modelward.serving.streaming.base import Message
from modelward.session import Session
from tests.e2e.test_batch_cli import scored_workspace  # noqa: F401 - the shared fixture
from tests.integration.backends.streams import Streams, streams_on
from tests.unit.registry.support import MLFLOW_WARNINGS, cli

pytestmark = [*MLFLOW_WARNINGS, pytest.mark.redis]


@pytest.fixture
def streams() -> Iterator[Streams]:
    yield from streams_on("redis")


@pytest.mark.slow
def test_stream_scores_events_dead_letters_poison_and_logs_as_stream(
    scored_workspace: Workspace,  # noqa: F811
    streams: Streams,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    producer = open_stream(streams.url("events"), "--sink")
    bodies = [orjson.dumps({"id": i, "a": (i - 2) / 2, "b": 0.0}) for i in range(5)]
    producer.write([Message(f"e{i}", b) for i, b in enumerate([*bodies, b"{oops"])])
    producer.close()
    source = streams.url("events", group="scorers")
    sink = streams.url("scores")

    code, out, err = cli(
        capsys, monkeypatch, scored_workspace,
        "stream", "tiny", "--source", source, "--sink", sink, "--until-idle", "--json",
    )  # fmt: skip

    assert code == 0, err
    result = json.loads(out)
    assert (result["scored"], result["dead_lettered"], result["model_version"]) == (5, 1, "1")
    outputs = open_stream(streams.url("scores", group="verify"), "--source")
    streams.opened.append(outputs)
    scores = {e.id: orjson.loads(e.payload)["prediction"] for e in outputs.read(100, 0.5)}
    assert sorted(scores) == [f"e{i}" for i in range(5)]
    assert scores["e4"] > 0.5 > scores["e0"]
    with Session(scored_workspace) as session:
        log = open_workspace_log(session)
        try:
            records = log.read("tiny")
        finally:
            log.close()
    assert sorted(r.request_id for r in records) == [f"e{i}" for i in range(5)]
    assert {r.mode for r in records} == {"stream"}


def test_a_bad_stream_url_is_refused_naming_the_option_and_the_setting(
    sqlite_workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Session(sqlite_workspace) as session:
        bootstrap_admin(session)
    code, _, err = cli(
        capsys, monkeypatch, sqlite_workspace,
        "stream", "tiny", "--source", "redis://127.0.0.1:6379/0?stream=e&group=g&claim_idle_ms=5",
        "--sink", "kafka://127.0.0.1:9092?topic=scores",
    )  # fmt: skip
    assert code == 2, err
    assert "--source.claim_idle_ms" in err and "greater than or equal to 100" in err

    code, _, err = cli(
        capsys, monkeypatch, sqlite_workspace,
        "stream", "tiny", "--source", "redis://127.0.0.1:6379/0?stream=e&group=g",
        "--sink", "kafka://127.0.0.1:9092?topic=scores",
    )  # fmt: skip
    assert code == 2, err
    assert "--sink.type: unknown event stream 'kafka'; known: nats, redis" in err

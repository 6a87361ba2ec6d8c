"""Streaming inference on Redis Streams: events/s scored and source-to-sink lag, beside
the raw limit (the same model called directly on the same batches, no stream).

Data: events of 20 float features and an id, as JSON in the ``data`` field of a Redis
stream entry. Model: the benchmark GBM (GradientBoostingClassifier, 100 trees, depth 3,
as benchmarks/batch.py), trained on 5,000 rows. Cases:

- raw limit: the events' JSON decoded, stacked into a float matrix and given to
  ``model.predict_proba``, ``--batch-size`` at a time, in one process (no Redis);
- backlog: ``--events`` events are in the stream before ``stream_score`` starts; it
  drains them (read in the group, schema check, model, outputs keyed by event id, the
  prediction log with ``mode="stream"``, one ``write_table`` per batch, XACK), with the
  workspace's SQLite log and with the columnar segments log. Throughput is the
  events scored from the first batch done to the last over that time (start-up left
  out); ``events/CPU-s`` divides by this process's CPU time instead, which a loaded
  machine does not inflate; "log discarded" is the same with a log that keeps nothing;
- paced: a producer process adds ``--rate`` events/s for ``--seconds`` while the consumer
  runs (with each log); the lag of each event is its output's stream entry time minus
  its own (both Redis's clock), reported as p50/p99/max.

Results: a Rich table, JSON on stdout and benchmarks/results/streaming.json. Needs the
Redis server (``--redis``, default redis://127.0.0.1:6379/0); keys it makes are removed.

    python benchmarks/streaming.py [--events 50000] [--rate 10000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
RESULTS = HERE / "results"
FEATURES = 20

_PRODUCER = """
import json, sys, time
import numpy as np
import redis
url, stream, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
r = redis.Redis.from_url(url)
rng = np.random.default_rng(2)
# bodies made up front, so the producer's own cost is the XADDs alone
bodies = [json.dumps({"id": i, **{f"f{k}": v for k, v in enumerate(row)}})
          for i, row in enumerate(rng.normal(size=(2_000, 20)).tolist())]
tick = 0.01
per_tick = max(1, int(rate * tick))
began = time.perf_counter()
sent = 0
while time.perf_counter() - began < seconds:
    pipe = r.pipeline(transaction=False)
    for k in range(per_tick):
        pipe.xadd(stream, {"data": bodies[(sent + k) % len(bodies)]})
    pipe.execute()
    sent += per_tick
    ahead = began + sent / rate - time.perf_counter()
    if ahead > 0:
        time.sleep(ahead)
print(sent)
"""


def _model() -> Any:
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier

    DATA.mkdir(exist_ok=True)
    path = DATA / "batch-gbm.pkl"  # the same model as benchmarks/batch.py
    if not path.exists():
        rng = np.random.default_rng(0)
        x = rng.normal(size=(5_000, FEATURES))
        y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
        model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)
        path.write_bytes(pickle.dumps(model.fit(x, y)))
    return pickle.loads(path.read_bytes())


def _bodies(n: int) -> list[bytes]:
    import numpy as np
    import orjson

    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, FEATURES)).tolist()
    return [
        orjson.dumps({"id": i, **{f"f{k}": v for k, v in enumerate(r)}}) for i, r in enumerate(x)
    ]


def raw_limit(model: Any, bodies: list[bytes], batch: int) -> dict[str, float]:
    import numpy as np
    import orjson

    names = [f"f{k}" for k in range(FEATURES)]
    began, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(bodies), batch):
        rows = [orjson.loads(b) for b in bodies[start : start + batch]]
        x = np.array([[r[n] for n in names] for r in rows], dtype=np.float64)
        model.predict_proba(x)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {
        "events": len(bodies),
        "wall_s": wall,
        "events_per_s": len(bodies) / wall,
        "cpu_s": cpu,
        "events_per_cpu_s": len(bodies) / cpu,
    }


def _entry_ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-")[0])


def _lags(client: Any, source: str, sink: str) -> tuple[list[float], float, int]:
    """Per event: output entry time - source entry time (ms); and the output span (s)."""
    published: dict[bytes, int] = {}
    for entry_id, _ in _scan(client, source):
        published[entry_id] = _entry_ms(entry_id)
    lags: list[float] = []
    first = last = None
    for entry_id, fields in _scan(client, sink):
        at = _entry_ms(entry_id)
        first = at if first is None else first
        last = at
        lags.append(at - published[fields[b"key"]])
    span = ((last or 0) - (first or 0)) / 1000
    return lags, span, len(lags)


def _scan(client: Any, stream: str) -> Any:
    start = "-"
    while True:
        page = client.xrange(stream, start, "+", count=10_000)
        if not page:
            return
        yield from page
        start = "(" + page[-1][0].decode()


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


class _Discard:
    """A prediction log that keeps nothing: what the log costs is the difference."""

    label = "discard"

    def write(self, records: Any) -> None:
        pass

    def write_table(self, endpoint: str, table: Any) -> None:
        pass

    def find_request_ids(self, endpoint: str, ids: Any) -> set[str]:
        return set()

    def close(self) -> None:
        pass


def consume(
    url: str,
    stream: str,
    sink_stream: str,
    model: Any,
    batch: int,
    stop: threading.Event | None,
    log: str = "sqlite",
    marks: list[tuple[float, float, int]] | None = None,
) -> Any:
    from modelward.config import Workspace, init_workspace
    from modelward.serving import EndpointSpec, stream_score
    from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
    from modelward.session import Session

    spec = EndpointSpec(
        name="gbm",
        model="gbm@1",
        request={f"f{i}": "float" for i in range(FEATURES)},
        latency_budget_ms=60_000,
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = init_workspace(Path(tmp) / "ws", project="bench")
        sink: Any = None  # None: the workspace's own log (SQLite)
        if log == "discard":
            sink = _Discard()
        elif log == "segments":
            from modelward.monitoring import open_prediction_sink

            sink = open_prediction_sink({"type": "segments", "path": "segments"}, root)
        with Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "bench"})) as s:
            try:
                return stream_score(
                    spec,
                    f"{url}?stream={stream}&group=bench",
                    f"{url}?stream={sink_stream}",
                    session=s,
                    batch_size=batch,
                    wait_s=0.05 if stop is not None else 0.5,
                    until_idle=stop is None,
                    stop=stop,
                    resolver=StaticModelResolver(
                        {"gbm@1": ResolvedModel("gbm", "1", "mem://gbm", model)}
                    ),
                    loader=ObjectModelLoader(),
                    prediction_log=sink,
                    on_batch=None
                    if marks is None
                    else lambda c: marks.append(
                        (time.perf_counter(), time.process_time(), c.scored)
                    ),
                )
            finally:
                if sink is not None:
                    sink.close()


def backlog(url: str, model: Any, events: int, batch: int, log: str) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(url)
    prefix = f"mwbench-{uuid.uuid4().hex[:8]}"
    source, sink = f"{prefix}-events", f"{prefix}-scores"
    try:
        pipe = client.pipeline(transaction=False)
        for i, body in enumerate(_bodies(events)):
            pipe.xadd(source, {"data": body})
            if i % 5_000 == 4_999:
                pipe.execute()
        pipe.execute()
        marks: list[tuple[float, float, int]] = []
        began = time.perf_counter()
        result = consume(url, source, sink, model, batch, None, log, marks)
        wall = time.perf_counter() - began
        _, span, scored = _lags(client, source, sink)
        # from the first batch done to the last: start-up (imports, model load) left out
        (w0, c0, n0), (w1, c1, n1) = marks[0], marks[-1]
        return {
            "events": events,
            "scored": scored,
            "dead_lettered": result.dead_lettered,
            "wall_s": wall,
            "span_s": span,
            "events_per_s": (n1 - n0) / (w1 - w0),
            # this process's CPU (both threads; Redis's own is not counted)
            "cpu_s": c1 - c0,
            "events_per_cpu_s": (n1 - n0) / (c1 - c0),
        }
    finally:
        _drop(client, prefix)


def paced(
    url: str, model: Any, rate: float, seconds: float, batch: int, log: str
) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(url)
    prefix = f"mwbench-{uuid.uuid4().hex[:8]}"
    source, sink = f"{prefix}-events", f"{prefix}-scores"
    client.xgroup_create(source, "bench", id="0", mkstream=True)
    stop = threading.Event()
    holder: list[Any] = []
    consumer = threading.Thread(
        target=lambda: holder.append(consume(url, source, sink, model, batch, stop, log))
    )
    try:
        consumer.start()
        producer = subprocess.run(
            [sys.executable, "-c", _PRODUCER, url, source, str(rate), str(seconds)],
            capture_output=True,
            text=True,
            check=True,
        )
        sent = int(producer.stdout.strip())
        deadline = time.monotonic() + 60
        while client.xlen(sink) < sent and time.monotonic() < deadline:
            time.sleep(0.05)  # the consumer catches up with the last events
        stop.set()
        consumer.join(60)
        lags, span, scored = _lags(client, source, sink)
        return {
            "rate": rate,
            "seconds": seconds,
            "sent": sent,
            "scored": scored,
            "events_per_s": scored / span if span else float("nan"),
            "lag_p50_ms": _percentile(lags, 50),
            "lag_p99_ms": _percentile(lags, 99),
            "lag_max_ms": max(lags) if lags else float("nan"),
        }
    finally:
        stop.set()
        _drop(client, prefix)


def _drop(client: Any, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=10_000))
    for start in range(0, len(keys), 10_000):
        client.delete(*keys[start : start + 10_000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="backlog size")
    parser.add_argument("--rate", type=float, default=10_000, help="paced events/s")
    parser.add_argument("--seconds", type=float, default=10, help="paced duration")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    model = _model()
    load = os.getloadavg()
    results: dict[str, Any] = {
        "raw limit": raw_limit(model, _bodies(args.events), args.batch_size),
        "backlog, log discarded": backlog(
            args.redis, model, args.events, args.batch_size, "discard"
        ),
        "backlog, SQLite log": backlog(args.redis, model, args.events, args.batch_size, "sqlite"),
        "backlog, segments log": backlog(
            args.redis, model, args.events, args.batch_size, "segments"
        ),
        "paced, SQLite log": paced(
            args.redis, model, args.rate, args.seconds, args.batch_size, "sqlite"
        ),
        "paced, segments log": paced(
            args.redis, model, args.rate, args.seconds, args.batch_size, "segments"
        ),
    }
    raw = results["raw limit"]["events_per_s"]
    table = Table(
        title=f"streaming on Redis Streams, {FEATURES} features, GBM 100x3, "
        f"batches of {args.batch_size} (load {load[0]:.1f} on {os.cpu_count()} cores)"
    )
    columns = ("case", "events", "events/s", "vs raw", "events/CPU-s", "lag p50 ms", "lag p99 ms")
    for col in columns:
        table.add_column(col, justify="left" if col == "case" else "right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r.get('scored', r.get('events')):,}",
            f"{r['events_per_s']:,.0f}",
            f"{r['events_per_s'] / raw:.2f}x",
            f"{r['events_per_cpu_s']:,.0f}" if "events_per_cpu_s" in r else "-",
            f"{r['lag_p50_ms']:.0f}" if "lag_p50_ms" in r else "-",
            f"{r['lag_p99_ms']:.0f}" if "lag_p99_ms" in r else "-",
        )
    Console(stderr=True).print(table)
    report = {
        "features": FEATURES,
        "batch_size": args.batch_size,
        "load_average": load,
        "cpus": os.cpu_count(),
        "cases": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "streaming.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

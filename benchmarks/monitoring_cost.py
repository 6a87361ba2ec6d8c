"""What monitoring costs the gateway per request: the prediction log's request-path share.

The gateway logs every answered row with ``Answer.log(writer.submit, ...)``: it redacts the
PII fields, builds one ``PredictionRecord`` and appends it to the writer's queue; the
writer thread serialises and stores it later. This script measures that call on a
single-row request of 20 inputs (one of them PII), ``--requests`` times, in one process:

* ``deque.append`` of a prebuilt record: the raw limit of handing a record to a thread;
* ``Answer.log`` into a no-op: redaction and the record alone;
* ``Answer.log`` into a running ``PredictionLogWriter`` over a real sink (``--sink``,
  SQLite and segments by default, in a temporary folder): the request path all-in, with
  the writer thread busy beside it (it competes for the GIL as it does in a gateway);
* the writer thread's CPU per record (off the request path, for the record).

Request-path figures are CPU seconds of the calling thread (``time.thread_time``) and wall
time per call (``time.perf_counter``, which also counts waits for the GIL) over all
calls, best of ``--repeat`` rounds. The issue's target: < 5 µs per prediction all-in.
Prints a table and JSON (also ``benchmarks/results/monitoring_cost.json``) with the
machine's load average; compare the rows of one run.

    python benchmarks/monitoring_cost.py [--requests 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from modelward.monitoring import PredictionLogWriter, PredictionRecord, open_prediction_sink
from modelward.serving.answers import Answer

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = [f"f{i:02d}" for i in range(19)]


def _answer() -> Answer:
    row: dict[str, Any] = {name: 0.25 * i for i, name in enumerate(FIELDS)}
    row["email"] = "someone@example.com"
    return Answer([0.73], [row], [("churn", "3")], [None])


def _timed(call: Callable[[int], None], n: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per call of the calling thread over ``n`` calls."""
    cpu, wall = time.thread_time(), time.perf_counter()
    for i in range(n):
        call(i)
    return (time.thread_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def _log_into(submit: Callable[[PredictionRecord], Any]) -> Callable[[int], None]:
    answer = _answer()
    pii = ["email"]

    def call(i: int) -> None:
        answer.log(
            submit,
            request_id=f"r{i}",
            at_us=1_767_225_600_000_000 + i,
            endpoint="churn",
            latency_ms=2.5,
            pii=pii,
        )

    return call


def _with_writer(sink_type: str, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        sink = open_prediction_sink({"type": sink_type}, Path(folder))
        writer = PredictionLogWriter(sink, capacity=n + 1)
        writer.start()
        process = time.process_time()
        own = time.thread_time()
        cpu_us, wall_us = _timed(_log_into(writer.submit), n)
        own_s = time.thread_time() - own
        writer.close(timeout_s=600)
        writer_s = time.process_time() - process - own_s
        assert writer.written == n, (writer.written, writer.dropped)
    return {"cpu_us": cpu_us, "wall_us": wall_us, "writer_cpu_us_per_record": writer_s / n * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sink", nargs="+", default=["sqlite", "segments"])
    args = parser.parse_args()
    n = args.requests
    rows: list[dict[str, Any]] = []

    def best(name: str, measure: Callable[[], dict[str, float]]) -> None:
        rounds = [measure() for _ in range(args.repeat)]
        rows.append({"path": name, **min(rounds, key=lambda r: r["cpu_us"])})

    record = PredictionRecord("r", 0, "churn", "churn", "3", {}, 0.73, 2.5, False)

    def raw() -> dict[str, float]:
        queue: deque[PredictionRecord] = deque()
        cpu_us, wall_us = _timed(lambda i: queue.append(record), n)
        return {"cpu_us": cpu_us, "wall_us": wall_us}

    best("deque.append (raw limit)", raw)
    best(
        "Answer.log -> no-op",
        lambda: dict(zip(("cpu_us", "wall_us"), _timed(_log_into(lambda r: None), n), strict=True)),
    )
    for sink_type in args.sink:
        best(f"Answer.log -> writer ({sink_type})", lambda s=sink_type: _with_writer(s, n))
    load = os.getloadavg()
    table = Table(
        title=(
            f"request-path cost of the prediction log, {n:,} single-row requests of 20 inputs "
            f"(load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, {os.cpu_count()} cores)"
        )
    )
    for column in ("path", "CPU µs/request", "wall µs/request", "writer thread CPU µs/record"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for r in rows:
        writer = r.get("writer_cpu_us_per_record")
        table.add_row(
            r["path"],
            f"{r['cpu_us']:.2f}",
            f"{r['wall_us']:.2f}",
            "-" if writer is None else f"{writer:.2f}",
        )
    Console().print(table)
    result = {"requests": n, "target_us": 5.0, "load_average": load, "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "monitoring_cost.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Batch scoring: ``modelward.serving.batch_score`` beside a bare loop of ``predict_proba``.

Data: ``--rows`` rows (200k by default) of 20 float features and an id, in one Parquet file.
Model: the benchmark GBM (GradientBoostingClassifier, 100 trees, depth 3, as
benchmarks/gateway.py), trained on 5,000 rows. Cases, each in a fresh subprocess so its
peak memory (max RSS, imports included) is its own:

- bare: ``ParquetFile(pre_buffer=False).iter_batches(65_536)`` -> float matrix ->
  ``model.predict_proba``,
  the raw limit on the same Arrow batches in one process;
- modelward, log discarded: ``batch_score`` (schema check, rejects, parts renamed into
  place, manifest) with a prediction log sink that drops what it is given;
- modelward: the same with the workspace's SQLite prediction log (every row logged with
  ``mode="batch"``, one table write per part), what ``modelward batch score`` does;
- modelward, N processes: the same on the local engine with ``--workers N`` (each worker
  writes its parts and the SQLite log itself), against the one-process case above;
- modelward, segments log (and N processes): the same with the columnar segments log
  (``[serving.prediction_log] type = "segments"``: one Parquet file per part, renamed
  into place; no writer waits on another's lock);
- modelward, redis log (and N processes): the same with the Redis Streams log on
  127.0.0.1:6379 (a key prefix of its own, dropped afterwards), whose writers do not take
  turns on one file as SQLite's do;
- modelward, sql input, log discarded: the input read as ``sql:SELECT * FROM
  read_parquet(...)`` through DuckDB's record batch reader.

Peak memory is GNU time's "Maximum resident set size" (``/usr/bin/time -v``) of the case's
process, and for the N-process cases also of its largest worker (the run holds about the
parent's plus N times the worker's). "CPU s" is GNU time's user plus system time of the
case's whole process tree (workers and imports included): on a loaded machine it moves far
less than the seconds do.

Results: a Rich table, JSON on stdout and benchmarks/results/batch.json.

    python benchmarks/batch.py [--rows 200000] [--workers 2] [--case NAME ...]
    python benchmarks/batch.py --rows 10000000 --case bare --case "modelward, log discarded"
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
RESULTS = HERE / "results"
FEATURES = 20
BATCH = 65_536

_DONE = """
import json, resource, time
def done(rows, wall):
    print(json.dumps({"rows": rows, "wall_s": wall,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "worker_peak_mb":
                          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

_BARE = """
import pickle, sys, time
import numpy as np
import pyarrow.parquet as pq
data, model_path = sys.argv[1], sys.argv[2]
model = pickle.loads(open(model_path, "rb").read())
names = [f"f{i}" for i in range(20)]
began = time.perf_counter()
rows = 0
with pq.ParquetFile(data, pre_buffer=False) as reader:  # as batch_score reads it
    for batch in reader.iter_batches(batch_size=65_536):
        x = np.column_stack([batch.column(n).to_numpy() for n in names])
        p = model.predict_proba(x)[:, 1]
        rows += len(p)
done(rows, time.perf_counter() - began)
"""

_MODELWARD = """
import pickle, sys, tempfile, time
from pathlib import Path
from modelward.config import Workspace, init_workspace
from modelward.serving import EndpointSpec, batch_score
from modelward.serving.models import ObjectModelLoader, ResolvedModel, StaticModelResolver
from modelward.session import Session

data, model_path, log, workers, how = sys.argv[1:6]
model = pickle.loads(open(model_path, "rb").read())
if how == "sql":
    data = f"sql:SELECT * FROM read_parquet('{data}')"

class Discard:
    label = "discard"
    def write(self, records): pass
    def write_table(self, endpoint, table): pass
    def find_request_ids(self, endpoint, ids): return set()
    def close(self): pass

spec = EndpointSpec(name="gbm", model="gbm@1", request={f"f{i}": "float" for i in range(20)})
environ = {"MODELWARD_IDENTITY__USER": "bench"}
if log == "segments":  # the columnar log: Parquet segments under the workspace
    environ |= {"MODELWARD_SERVING__PREDICTION_LOG__TYPE": "segments"}
if log == "redis":  # the Redis Streams log on 127.0.0.1:6379, a key prefix of its own
    import uuid
    prefix = f"mwbench{uuid.uuid4().hex[:8]}"
    environ |= {"MODELWARD_SERVING__PREDICTION_LOG__TYPE": "redis",
                "MODELWARD_SERVING__PREDICTION_LOG__KEY_PREFIX": prefix}
with tempfile.TemporaryDirectory() as tmp:
    root = init_workspace(Path(tmp) / "ws", project="bench")
    with Session(Workspace.open(root, environ=environ)) as s:
        began = time.perf_counter()
        result = batch_score(
            spec, data, Path(tmp) / "out", session=s, key="id",
            resolver=StaticModelResolver({"gbm@1": ResolvedModel("gbm", "1", "mem://gbm", model)}),
            loader=ObjectModelLoader(),
            prediction_log=Discard() if log == "discard" else None,
            workers=int(workers),
        )
        wall = time.perf_counter() - began
        # the local engine forks its workers from a fork server, a child of this process:
        # stopped and waited for here, its workers' CPU time and memory count as this
        # process's children (GNU time's figures, and worker_peak_mb below)
        import multiprocessing.forkserver
        stop = getattr(multiprocessing.forkserver._forkserver, "_stop", None)
        if stop is not None:
            stop()
        if log == "redis":  # the streams are the benchmark's: drop them
            from modelward.monitoring import open_workspace_log
            sink = open_workspace_log(s)
            sink.drop()
            sink.close()
done(result.rows_scored, wall)
"""


def _cases(workers: int) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {
        "bare": (_BARE, ()),
        "modelward, log discarded": (_MODELWARD, ("discard", "1", "file")),
        "modelward, sql input, log discarded": (_MODELWARD, ("discard", "1", "sql")),
        "modelward": (_MODELWARD, ("sqlite", "1", "file")),
        f"modelward, {workers} processes": (_MODELWARD, ("sqlite", str(workers), "file")),
        "modelward, segments log": (_MODELWARD, ("segments", "1", "file")),
        f"modelward, segments log, {workers} processes": (
            _MODELWARD,
            ("segments", str(workers), "file"),
        ),
        "modelward, redis log": (_MODELWARD, ("redis", "1", "file")),
        f"modelward, redis log, {workers} processes": (
            _MODELWARD,
            ("redis", str(workers), "file"),
        ),
    }


def _prepare(rows: int) -> tuple[Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.ensemble import GradientBoostingClassifier

    DATA.mkdir(exist_ok=True)
    model_path = DATA / "batch-gbm.pkl"
    if not model_path.exists():
        rng = np.random.default_rng(0)
        x = rng.normal(size=(5_000, FEATURES))
        y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
        model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)
        model_path.write_bytes(pickle.dumps(model.fit(x, y)))
    data = DATA / f"batch-{rows}.parquet"
    if not data.exists():
        rng = np.random.default_rng(1)
        tmp = data.with_suffix(".tmp")
        with pq.ParquetWriter(tmp, _schema()) as writer:
            for start in range(0, rows, 250_000):
                n = min(250_000, rows - start)
                columns = {"id": pa.array(np.arange(start, start + n))}
                columns |= {f"f{i}": rng.normal(size=n) for i in range(FEATURES)}
                writer.write_table(pa.table(columns), row_group_size=BATCH)
        tmp.rename(data)
    return data, model_path


def _schema() -> object:
    import pyarrow as pa

    return pa.schema([("id", pa.int64()), *((f"f{i}", pa.float64()) for i in range(FEATURES))])


def _run(script: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-c", _DONE + script, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    cpu = 0.0
    for line in out.stderr.splitlines():
        if "Maximum resident set size" in line:  # GNU time's figure, in kB
            result["peak_mb"] = int(line.rsplit(":", 1)[1]) / 1024
        if "User time (seconds)" in line or "System time (seconds)" in line:
            cpu += float(line.rsplit(":", 1)[1])
    # the case's whole process tree (its workers included), imports and set-up too: what
    # the load of the machine changes least
    result["cpu_s"] = cpu
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2, help="processes of the N-process case")
    parser.add_argument(
        "--case",
        action="append",
        default=[],
        help="run only this case, by its name as the table shows it (repeatable)",
    )
    args = parser.parse_args()
    chosen = {c.strip() for c in args.case if c.strip()}
    data, model = _prepare(args.rows)
    results: dict[str, dict[str, float]] = {}
    for name, (script, extra) in _cases(args.workers).items():
        if chosen and name not in chosen:
            continue
        results[name] = _run(script, str(data), str(model), *extra)
    bare = results.get("bare")
    table = Table(title=f"batch scoring, {args.rows:,} rows x {FEATURES} features, GBM 100x3")
    columns = ("case", "seconds", "rows/s", "vs bare", "vs 1 process", "CPU s", "peak RSS MB")
    for col in columns:
        table.add_column(col, justify="left" if col == "case" else "right")
    for name, r in results.items():
        r["rows_per_s"] = r["rows"] / r["wall_s"]
        r["ratio"] = r["rows_per_s"] / bare["rows_per_s"] if bare else float("nan")
        several = "processes" in name
        single = results.get(name.rsplit(",", 1)[0]) if several else None
        if single:  # against the same case in one process
            r["vs_one_process"] = r["rows_per_s"] / (single["rows"] / single["wall_s"])
        peak = f"{r['peak_mb']:.0f}"
        if several:
            peak += f" + {args.workers} x {r['worker_peak_mb']:.0f}"
        table.add_row(
            name,
            f"{r['wall_s']:.2f}",
            f"{r['rows_per_s']:,.0f}",
            f"{r['ratio']:.2f}x",
            f"{r['vs_one_process']:.2f}x" if "vs_one_process" in r else "",
            f"{r['cpu_s']:.2f}",
            peak,
        )
    Console(stderr=True).print(table)
    load = os.getloadavg()
    Console(stderr=True).print(
        f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    report = {"rows": args.rows, "features": FEATURES, "load_average": load, "cases": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batch.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

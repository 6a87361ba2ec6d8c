"""The process hop of ``isolation = "process"`` beside the raw limit: one model, one data set.

A GradientBoostingClassifier (50 trees, 8 features) scores the same rows three ways:

- raw limit: ``model.predict_proba`` in process (what the gateway calls without isolation);
- loaded in process: the gateway's :class:`LoadedModel` wrapper (positive-class column);
- worker process: the same model unpickled in a worker
  (:class:`~modelward.serving.model_process.ModelProcess`), rows sent over the socket as
  raw float64 bytes, answers back as a list.

for 1 row (a single request) and for batches of 64 and 1,024 rows (what the micro-batcher
sends under load). The worker runs this interpreter (``--python`` another one): the hop
costs the same whichever environment the worker has. Ratios are measured in one run, so
the machine's load, printed beside them, affects both sides alike.

Results: a Rich table, JSON on stdout and benchmarks/results/model_process.json.

    python benchmarks/model_process.py [--calls 2000] [--python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.ensemble import GradientBoostingClassifier
from timing import latency  # the sibling module (this script's folder is on sys.path)

from modelward.serving.model_process import ModelProcess
from modelward.serving.models import load_object

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--python", type=Path, default=Path(sys.executable))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 8))
    model = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0)
    model.fit(x, (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int))
    columns = [f"f{i}" for i in range(8)]
    wrapped = load_object(model, name="b", version="1", uri="mem", output="auto", columns=columns)

    results: dict[str, Any] = {"load": os.getloadavg(), "cores": os.cpu_count(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        pickled = Path(tmp) / "model.pkl"
        pickled.write_bytes(cloudpickle.dumps(model))
        worker = ModelProcess(args.python, pickled, "cloudpickle", name="bench@1")
        worker.start()
        try:
            for rows in (1, 64, 1024):
                batch = np.ascontiguousarray(x[:rows])
                expected = model.predict_proba(batch)[:, 1].tolist()
                assert worker.call("positive", batch) == expected  # the same answers
                calls = max(args.calls // (1 + rows // 64), 50)
                raw = latency(lambda b=batch: model.predict_proba(b), calls, warmup=100)
                inproc = latency(lambda b=batch: wrapped.predict(b), calls, warmup=100)
                hop = latency(lambda b=batch: worker.call("positive", b), calls, warmup=100)
                results["runs"].append(
                    {
                        "rows": rows,
                        "calls": calls,
                        "raw": raw,
                        "in_process": inproc,
                        "worker": hop,
                        "hop_us": hop["p50_us"] - inproc["p50_us"],
                        "ratio": hop["p50_us"] / raw["p50_us"],
                    }
                )
        finally:
            worker.close()

    load = ", ".join(f"{v:.1f}" for v in results["load"])
    table = Table(title=f"model call: in process vs worker process (load {load})")
    for col in ("rows", "raw p50 µs", "in-process p50 µs", "worker p50 µs", "worker p99 µs"):
        table.add_column(col, justify="right")
    table.add_column("hop p50 µs", justify="right")
    table.add_column("worker / raw", justify="right")
    for run in results["runs"]:
        table.add_row(
            str(run["rows"]),
            f"{run['raw']['p50_us']:.0f}",
            f"{run['in_process']['p50_us']:.0f}",
            f"{run['worker']['p50_us']:.0f}",
            f"{run['worker']['p99_us']:.0f}",
            f"{run['hop_us']:.0f}",
            f"{run['ratio']:.2f}x",
        )
    Console(stderr=True).print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "model_process.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()

"""Reading a window of the prediction log as Arrow, beside the raw limit on the same files.

The SQLite sink (the embedded default) and the columnar segments sink are each filled with
N records of 20 inputs each (batches of 10,000, as the writer thread hands them over), then
one window (all N rows of the endpoint) is read: from SQLite with ``read_window`` (SQL
filter, the kept rows' JSON parsed once, the Arrow columns built once), with the raw limit
of the row store (the same ``SELECT`` with ``fetchall`` and nothing parsed) and with
SQLite's own JSON functions extracting every input in SQL (``json_extract`` per field);
from the segments with ``read_window`` and with the raw limit of the files (a bare
``pyarrow.parquet.read_table`` of each, concatenated). CPU seconds of this process
(``time.process_time``).

    python benchmarks/prediction_log.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from modelward.monitoring import PredictionRecord, open_prediction_sink

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = [f"f{i:02d}" for i in range(20)]


def _fill(config: dict[str, str], root: Path, n: int) -> None:
    sink = open_prediction_sink(config, root)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(n, 20)).round(4).tolist()
    batch = 10_000
    for start in range(0, n, batch):
        sink.write(
            [
                PredictionRecord(
                    f"r{i}",
                    1_700_000_000_000_000 + i,
                    "churn",
                    "churn",
                    "3",
                    dict(zip(FIELDS, values[i], strict=True)),
                    0.5,
                    2.0,
                    False,
                )
                for i in range(start, min(start + batch, n))
            ]
        )
    sink.close()


def _time(fn) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    cpu = time.process_time()
    rows = fn()
    return time.process_time() - cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    runs = []
    for n in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "predictions.db"
            lite = {"type": "sqlite", "path": str(path)}
            _fill(lite, path.parent, n)
            sink = open_prediction_sink(lite, path.parent)
            conn = sqlite3.connect(path)
            extract = ", ".join(f"json_extract(inputs, '$.{f}')" for f in FIELDS)
            raw = "SELECT * FROM predictions WHERE endpoint = 'churn' ORDER BY seq"
            in_sql = f"SELECT seq, {extract} FROM predictions WHERE endpoint = 'churn'"
            paths = {
                "read_window (Arrow, typed)": None,
                "raw SELECT, nothing parsed": raw,
                "SELECT with json_extract per field": in_sql,
            }
            for name, query in paths.items():
                if query is None:
                    cpu, rows = _time(lambda: sink.read_window("churn").num_rows)  # noqa: B023
                else:
                    cpu, rows = _time(lambda: len(conn.execute(query).fetchall()))  # noqa: B023
                runs.append({"rows": n, "path": name, "cpu_s": round(cpu, 2), "read": rows})
            conn.close()
            sink.close()
            folder = Path(tmp) / "segments"
            columnar = {"type": "segments", "path": str(folder)}
            _fill(columnar, Path(tmp), n)
            segments = open_prediction_sink(columnar, Path(tmp))
            cpu, rows = _time(lambda: segments.read_window("churn").num_rows)  # noqa: B023
            runs.append(
                {"rows": n, "path": "segments: read_window", "cpu_s": round(cpu, 2), "read": rows}
            )
            files = sorted((folder / "churn").glob("*.parquet"))
            cpu, rows = _time(
                lambda: pa.concat_tables([pq.read_table(f) for f in files]).num_rows  # noqa: B023
            )
            runs.append(
                {
                    "rows": n,
                    "path": "segments: raw Parquet read",
                    "cpu_s": round(cpu, 2),
                    "read": rows,
                }
            )
    table = Table(title="a window of the prediction log, 20 inputs per row")
    for col in ("rows", "path", "cpu s", "rows/s"):
        table.add_column(col)
    for r in runs:
        rate = r["read"] / r["cpu_s"] if r["cpu_s"] else float("inf")
        table.add_row(f"{r['rows']:,}", r["path"], f"{r['cpu_s']:.2f}", f"{rate:,.0f}")
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "prediction_log.json").write_text(json.dumps({"runs": runs}, indent=2))
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()

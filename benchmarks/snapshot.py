"""Snapshot a 10-million-row, 20-column Parquet file; compare with the raw limit.

modelward: stream through DuckDB in batches, hash the normalised rows, write Parquet (zstd),
fsync, rename, record. Raw limit: one DuckDB ``COPY`` of the same file to Parquet (zstd)
plus a SHA-256 of the bytes written: the least work that yields a hashed copy.
Each run is a fresh subprocess, so peak memory (max RSS) is its own.

    python benchmarks/snapshot.py [--rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
RESULTS = HERE / "results"

_GENERATE = """
COPY (
  SELECT range AS id,
         hash(range, 1) % 1000 AS i1, hash(range, 2) % 100000 AS i2, (hash(range, 3) % 50)::INT AS i3,
         (hash(range, 4) % 1000003) / 7.0 AS d1, (hash(range, 5) % 1000) / 3.0 AS d2,
         CASE WHEN hash(range, 6) % 20 = 0 THEN NULL ELSE (hash(range, 6) % 997) / 9.0 END AS d3,
         ['a','b','c','d','e'][1 + (hash(range, 7) % 5)::INT] AS s1,
         'user' || (hash(range, 8) % 200000) AS s2,
         CASE WHEN hash(range, 9) % 10 = 0 THEN NULL ELSE 'x' || (range % 97) END AS s3,
         TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(CAST(range % 2592000 AS BIGINT)) AS t1,
         DATE '2025-01-01' + CAST(range % 365 AS INTEGER) AS day,
         hash(range, 10) % 2 = 0 AS flag,
         hash(range, 11) % 7 AS i4, hash(range, 12) % 13 AS i5, (hash(range, 13) % 100) / 10.0 AS d4,
         (hash(range, 14) % 1000) / 100.0 AS d5, 's' || (range % 13) AS s4,
         ['na','eu','apac'][1 + (hash(range, 15) % 3)::INT] AS s5, range * 2 AS id2
  FROM range({rows})
) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
"""

_MODELWARD = """
import json, resource, sys, time
from modelward.config import init_workspace
from modelward.data import snapshots
from modelward.session import open_session
root = init_workspace(sys.argv[1])
with open_session(root, environ={"MODELWARD_IDENTITY__USER": "bench"}) as s:
    s.store
    t = time.perf_counter()
    snap = snapshots.snapshot(s, sys.argv[2], name="bench")
    wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": snap.row_count, "bytes": snap.byte_size}))
"""

_RAW = """
import hashlib, json, resource, sys, time, duckdb
t = time.perf_counter()
con = duckdb.connect(); con.execute("SET threads = 2"); con.execute("SET memory_limit = '1GB'")
con.execute(f"COPY (SELECT * FROM read_parquet('{sys.argv[2]}')) TO '{sys.argv[1]}/raw.parquet' "
            "(FORMAT parquet, COMPRESSION zstd)")
h = hashlib.sha256()
with open(f"{sys.argv[1]}/raw.parquet", "rb") as fh:
    while chunk := fh.read(1 << 20):
        h.update(chunk)
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(code: str, source: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        out = subprocess.run(
            [sys.executable, "-c", code, tmp, str(source)],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    source = DATA / f"snapshot_{args.rows}.parquet"
    if not source.exists():
        import duckdb

        duckdb.sql(_GENERATE.format(rows=args.rows, path=source))
    raw = _run(_RAW, source)
    ours = _run(_MODELWARD, source)
    result = {
        "rows": args.rows,
        "columns": 20,
        "source_bytes": source.stat().st_size,
        "raw": raw,
        "modelward": ours,
        "wall_ratio": ours["wall_s"] / raw["wall_s"],
    }
    table = Table(title=f"snapshot of {args.rows:,} rows x 20 columns")
    for col in ("path", "wall s", "peak MB", "ratio"):
        table.add_column(col)
    table.add_row(
        "raw: DuckDB COPY + sha256 of file", f"{raw['wall_s']:.2f}", f"{raw['peak_mb']:.0f}", "1.00"
    )
    table.add_row(
        "modelward snapshot (hash rows, write, record)",
        f"{ours['wall_s']:.2f}",
        f"{ours['peak_mb']:.0f}",
        f"{result['wall_ratio']:.2f}",
    )
    Console().print(table)
    print(json.dumps(result))
    (RESULTS / "snapshot.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

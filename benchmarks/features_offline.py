"""Point-in-time training sets: modelward's ``training_set`` beside the raw limits.

Data: feature rows over entities (10 numeric, 2 categorical features; ~5% of rows share
an entity and event time with another row and differ in created time), and spines of
entity ids (~9% without any history) with timezone-aware times. For each spine size:

- modelward: ``training_set(spine_parquet, [view]).to_arrow()`` (no TTL, as the others);
- raw DuckDB: a hand-written ASOF LEFT JOIN, duplicates resolved by created time;
- pandas ``merge_asof`` and polars ``join_asof`` on the same files (sorted, deduplicated).

Each case runs in a fresh subprocess, so its peak memory (max RSS, imports included) is its
own. Results: a Rich table, JSON on stdout and benchmarks/results/features_offline.json.

    python benchmarks/features_offline.py [--rows 1000000] [--entities 100000]
                                          [--spines 100000,1000000] [--skip pandas,polars]
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

_FEATURES = """
COPY (
  SELECT (hash(range, 1) % {entities})::BIGINT AS entity_id,
         TIMESTAMPTZ '2026-01-01 00:00:00+00'
           + to_seconds(CAST(CASE WHEN range % 20 = 0 THEN (range - 1) ELSE range END
                             * 2592000 // {rows} AS BIGINT)) AS event_timestamp,
         TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(CAST(range * 2592000 // {rows} + 60
                                                                AS BIGINT)) AS created,
         {numeric},
         ['red','green','blue','grey'][1 + (hash(range, 50) % 4)::INT] AS c1,
         'seg' || (hash(range, 51) % 40) AS c2
  FROM range({rows})
) TO '{path}' (FORMAT parquet)
"""

_SPINE = """
COPY (
  SELECT * FROM (
    SELECT (hash(range, 101) % ({entities} * 11 // 10))::BIGINT AS entity_id,
           TIMESTAMPTZ '2026-01-01 00:00:00+00'
             + to_seconds(CAST(hash(range, 102) % 2678400 AS BIGINT)) AS event_timestamp,
           (hash(range, 103) % 2)::INT AS label
    FROM range({rows})
  ) QUALIFY row_number() OVER (PARTITION BY entity_id, event_timestamp) = 1
) TO '{path}' (FORMAT parquet)
"""

NUMERIC = [f"f{i}" for i in range(10)]

_PRELUDE = """
import json, resource, sys, time
features, spine = sys.argv[1], sys.argv[2]
NUMERIC = {numeric!r}
def done(rows, wall, matched):
    print(json.dumps({{"wall_s": wall, "rows": rows, "matched": int(matched),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

_MODELWARD = """
from modelward.features import Catalog, Entity, Feature, FeatureView, training_set
view = FeatureView("bench", entities=[Entity("e", "entity_id")], source=features,
                   created_timestamp="created",
                   features=[Feature(n, "float64") for n in NUMERIC]
                   + [Feature("c1", "string"), Feature("c2", "string")])
t = time.perf_counter()
with training_set(spine, [view], catalog=Catalog([view])) as ts:
    table = ts.to_arrow()
done(table.num_rows, time.perf_counter() - t, table.num_rows - table.column('f0').null_count)
"""

_DUCKDB = """
import duckdb
t = time.perf_counter()
con = duckdb.connect(); con.execute("SET threads = 2"); con.execute("SET memory_limit = '1GB'")
cols = ", ".join(NUMERIC + ["c1", "c2"])
table = con.sql(f'''
  WITH f AS (SELECT * FROM read_parquet('{features}')
             QUALIFY row_number() OVER (PARTITION BY entity_id, event_timestamp
                                        ORDER BY created DESC) = 1)
  SELECT s.*, {cols.replace("f", "f.f").replace("c1", "f.c1").replace("c2", "f.c2")}
  FROM read_parquet('{spine}') s ASOF LEFT JOIN f
    ON s.entity_id = f.entity_id AND s.event_timestamp >= f.event_timestamp
''').to_arrow_table()
done(table.num_rows, time.perf_counter() - t, table.num_rows - table.column('f0').null_count)
"""

_PANDAS = """
import pandas as pd
t = time.perf_counter()
f = pd.read_parquet(features)
f = f.sort_values(["event_timestamp", "created"]).drop_duplicates(
    ["entity_id", "event_timestamp"], keep="last")
s = pd.read_parquet(spine).sort_values("event_timestamp")
out = pd.merge_asof(s, f.drop(columns=["created"]), on="event_timestamp", by="entity_id",
                    direction="backward")
done(len(out), time.perf_counter() - t, out['f0'].notna().sum())
"""

_POLARS = """
import polars as pl
t = time.perf_counter()
f = (pl.read_parquet(features).sort(["event_timestamp", "created"])
     .unique(["entity_id", "event_timestamp"], keep="last").sort("event_timestamp"))
s = pl.read_parquet(spine).sort("event_timestamp")
out = s.join_asof(f.drop("created"), on="event_timestamp", by="entity_id", strategy="backward")
done(out.height, time.perf_counter() - t, out['f0'].is_not_null().sum())
"""

CASES = {"modelward": _MODELWARD, "duckdb": _DUCKDB, "pandas": _PANDAS, "polars": _POLARS}


def _generate(rows: int, entities: int, spines: list[int]) -> tuple[Path, dict[int, Path]]:
    import duckdb

    DATA.mkdir(parents=True, exist_ok=True)
    features = DATA / f"features_{rows}_{entities}.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if not features.exists():
        numeric = ",\n         ".join(
            f"(hash(range, {i + 10}) % 100000) / 100.0 AS {name}" for i, name in enumerate(NUMERIC)
        )
        con.execute(_FEATURES.format(rows=rows, entities=entities, numeric=numeric, path=features))
    paths = {}
    for n in spines:
        path = DATA / f"spine_{n}_{entities}.parquet"
        if not path.exists():
            con.execute(_SPINE.format(rows=n, entities=entities, path=path))
        paths[n] = path
    return features, paths


def _run(case: str, features: Path, spine: Path) -> dict[str, float]:
    code = _PRELUDE.format(numeric=NUMERIC) + CASES[case]
    with tempfile.TemporaryDirectory(dir=DATA):
        out = subprocess.run(
            [sys.executable, "-c", code, str(features), str(spine)],
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--spines", default="100000,1000000")
    parser.add_argument("--skip", default="", help="cases to skip, e.g. pandas,polars")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per case, interleaved; the fastest is reported (the machine "
        "is shared, so the minimum is the least disturbed)",
    )
    args = parser.parse_args()
    spines = [int(s) for s in args.spines.split(",") if s]
    skip = {s for s in args.skip.split(",") if s}
    features, spine_paths = _generate(args.rows, args.entities, spines)
    import pyarrow.parquet as pq

    results = []
    for n, path in spine_paths.items():
        spine_rows = pq.read_metadata(path).num_rows
        runs: dict[str, list[dict[str, float]]] = {c: [] for c in CASES if c not in skip}
        for _ in range(args.repeat):
            for case in runs:
                runs[case].append(_run(case, features, path))
        for case, rs in runs.items():
            r = min(rs, key=lambda x: x["wall_s"])
            r = {**r, "peak_mb": max(x["peak_mb"] for x in rs), "walls": [x["wall_s"] for x in rs]}
            results.append(
                {
                    "spine": n,
                    "spine_rows": spine_rows,
                    "case": case,
                    **r,
                    "all_rows_returned": r["rows"] == spine_rows,
                }
            )
    table = Table(
        title=f"training_set: {args.rows:,} feature rows, {args.entities:,} entities",
        title_justify="left",
    )
    for col in (
        "spine rows",
        "case",
        "wall s",
        "x raw duckdb",
        "peak MB",
        "rows returned",
        "rows with features",
    ):
        table.add_column(col, justify="right")
    for r in results:
        raw = next(x for x in results if x["spine"] == r["spine"] and x["case"] == "duckdb")
        table.add_row(
            f"{r['spine_rows']:,}",
            r["case"],
            f"{r['wall_s']:.2f}",
            f"{r['wall_s'] / raw['wall_s']:.2f}",
            f"{r['peak_mb']:.0f}",
            f"{r['rows']:,}" + ("" if r["all_rows_returned"] else " (dropped!)"),
            f"{r['matched']:,}",
        )
    Console(stderr=True).print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"rows": args.rows, "entities": args.entities, "results": results}
    (RESULTS / "features_offline.json").write_text(json.dumps(payload, indent=2))
    print(json.dumps(payload))


if __name__ == "__main__":
    main()

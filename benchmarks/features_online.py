"""Online features: materialization throughput and read latency beside the raw limits.

Uses the feature file of ``features_offline.py`` (generated if missing): 12 features
(10 numeric, 2 categorical) over entities.

- materialization: ``materialize_view`` (latest row per entity, rules, statistics, run
  records, packed upserts) into SQLite and Redis, beside the raw limit: one DuckDB
  latest-row-per-entity query plus a bulk ``executemany`` insert into a plain SQLite table;
- reads, in process, one entity and 100 entities per call: the store port
  (``OnlineStore.read``), the full lookup (``FeatureLookup.get``: unpack, TTL, columns),
  and the raw limits: a primary-key ``SELECT`` of the packed row, Redis ``GET``/``MGET``.

    python benchmarks/features_online.py [--rows 1000000] [--entities 100000]
                                         [--reads 20000] [--no-redis]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from features_offline import DATA, NUMERIC, RESULTS, _generate  # noqa: E402
from timing import latency  # noqa: E402

END = datetime(2026, 3, 1, tzinfo=UTC)


def _view(features: Path) -> Any:
    from modelward.features import Entity, Feature, FeatureView

    return FeatureView(
        "bench",
        entities=[Entity("e", "entity_id")],
        source=str(features),
        created_timestamp="created",
        features=[Feature(n, "float64") for n in NUMERIC]
        + [Feature("c1", "string"), Feature("c2", "string")],
    )


def _raw_materialize(features: Path, db: Path) -> dict[str, float]:
    import duckdb

    t = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 2")
    # the least work: latest row per entity, times as integers, plain columns, no packing
    reader = con.sql(
        f"SELECT * REPLACE (epoch_us(event_timestamp) AS event_timestamp, "
        f"epoch_us(created) AS created) FROM read_parquet('{features}') "
        "QUALIFY row_number() OVER "
        "(PARTITION BY entity_id ORDER BY event_timestamp DESC, created DESC) = 1"
    ).to_arrow_reader(10_000)
    lite = sqlite3.connect(db, isolation_level=None)
    lite.execute("PRAGMA journal_mode=WAL")
    lite.execute("PRAGMA synchronous=NORMAL")
    cols = ["entity_id", "event_timestamp", "created", *NUMERIC, "c1", "c2"]
    lite.execute(f"CREATE TABLE t ({', '.join(cols)}, PRIMARY KEY (entity_id)) WITHOUT ROWID")
    marks = ",".join("?" * len(cols))
    rows = 0
    for batch in reader:
        values = [batch.column(c).to_pylist() for c in cols]
        lite.execute("BEGIN")
        lite.executemany(f"INSERT INTO t VALUES ({marks})", zip(*values, strict=True))
        lite.execute("COMMIT")
        rows += batch.num_rows
    lite.close()
    return {"wall_s": time.perf_counter() - t, "written": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    from modelward.config import init_workspace
    from modelward.features import Catalog, FeatureLookup, open_online_store
    from modelward.features.materialization import materialize_view
    from modelward.session import open_session

    features, _ = _generate(args.rows, args.entities, [])
    work = DATA / f"online_{uuid.uuid4().hex[:8]}"
    root = init_workspace(work)
    results: dict[str, Any] = {
        "rows": args.rows,
        "entities": args.entities,
        "materialize": {},
        "reads": {},
    }
    view = _view(features)
    stores = {"sqlite": {"type": "sqlite"}}
    if not args.no_redis:
        stores["redis"] = {
            "type": "redis",
            "url": args.redis_url,
            "key_prefix": f"mwbench{uuid.uuid4().hex[:6]}",
        }
    rng = random.Random(7)
    try:
        with open_session(root, environ={"MODELWARD_IDENTITY__USER": "bench"}) as session:
            session.store  # noqa: B018 - open (and migrate) outside the timing
            raw = _raw_materialize(features, work / "raw.db")
            results["materialize"]["raw sqlite (latest query + bulk insert)"] = {
                **raw,
                "rows_per_s": args.rows / raw["wall_s"],
            }
            opened = {}
            for name, config in stores.items():
                store = open_online_store(config, root)
                opened[name] = store
                t = time.perf_counter()
                run = materialize_view(session, view, store, end=END)
                wall = time.perf_counter() - t
                results["materialize"][f"modelward -> {name}"] = {
                    "wall_s": wall,
                    "written": run.rows,
                    "rows_per_s": args.rows / wall,
                }
            keys = store.keys(view.online_namespace, args.entities)
            singles = [[str(rng.choice(keys))] for _ in range(64)]
            hundreds = [[str(k) for k in rng.sample(keys, 100)] for _ in range(64)]
            catalog = Catalog([view])
            feats = ["bench"]
            n1, n100 = args.reads, max(200, args.reads // 10)

            def cycle(items: list[Any]) -> Callable[[], Any]:
                it = iter(range(1 << 62))
                return lambda: items[next(it) % len(items)]

            ns = view.online_namespace
            for name, store in opened.items():
                lookup = FeatureLookup(store, catalog)
                one, many = cycle(singles), cycle(hundreds)
                results["reads"][f"{name} store.read 1"] = latency(
                    lambda s=store, f=one: s.read(ns, f()), n1
                )
                results["reads"][f"{name} store.read 100"] = latency(
                    lambda s=store, f=many: s.read(ns, f()), n100
                )
                ents1 = [{"entity_id": [int(k[0])]} for k in singles]
                ents100 = [{"entity_id": [int(x) for x in k]} for k in hundreds]
                e1, e100 = cycle(ents1), cycle(ents100)
                results["reads"][f"{name} lookup.get 1"] = latency(
                    lambda lk=lookup, f=e1: lk.get(f(), feats), n1
                )
                results["reads"][f"{name} lookup.get 100"] = latency(
                    lambda lk=lookup, f=e100: lk.get(f(), feats), n100
                )
            # raw limits on the same data
            lite = sqlite3.connect(root / ".modelward" / "online.db", check_same_thread=False)
            sql1 = f'SELECT v FROM "fv_{ns}" WHERE k = ?'
            marks = ",".join("?" * 100)
            sql100 = f'SELECT k, v FROM "fv_{ns}" WHERE k IN ({marks})'
            one, many = cycle(singles), cycle(hundreds)
            results["reads"]["raw sqlite PK SELECT 1"] = latency(
                lambda: lite.execute(sql1, one()).fetchone(), n1
            )
            results["reads"]["raw sqlite PK SELECT 100"] = latency(
                lambda: lite.execute(sql100, many()).fetchall(), n100
            )
            if "redis" in opened:
                import redis

                client = redis.Redis.from_url(args.redis_url)
                prefix = f"{stores['redis']['key_prefix']}:{ns}:"
                one_k = cycle([prefix + k[0] for k in singles])
                many_k = cycle([[prefix + x for x in k] for k in hundreds])
                results["reads"]["raw redis GET 1"] = latency(lambda: client.get(one_k()), n1)
                results["reads"]["raw redis MGET 100"] = latency(
                    lambda: client.mget(many_k()), n100
                )
                opened["redis"].drop(ns)
                client.close()
            for store in opened.values():
                store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    console = Console(stderr=True)
    table = Table(title="materialization", title_justify="left")
    for col in ("case", "wall s", "rows/s (source rows)", "entities written"):
        table.add_column(col, justify="right")
    for name, r in results["materialize"].items():
        table.add_row(name, f"{r['wall_s']:.2f}", f"{r['rows_per_s']:,.0f}", f"{r['written']:,}")
    console.print(table)
    table = Table(title="online reads (in process, 12 features)", title_justify="left")
    for col in ("case", "p50 µs", "p99 µs", "mean µs"):
        table.add_column(col, justify="right")
    for name, r in results["reads"].items():
        table.add_row(name, f"{r['p50_us']:.1f}", f"{r['p99_us']:.1f}", f"{r['mean_us']:.1f}")
    console.print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "features_online.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()

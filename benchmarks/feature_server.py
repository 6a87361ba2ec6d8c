"""The feature server beside the raw limit: what HTTP, auth and statuses add to a lookup.

Data: ``--entities`` entities of one view with 12 features (10 float, 2 string) in the
SQLite online store (the embedded default), a tenth of them older than the view's TTL.
Per request of 1 and of 100 entities:

- raw limit: ``FeatureLookup.get`` in process (what the gateway calls per batch);
- ``read_vectors``: the same lookup plus a status and event time per value;
- feature server: ``POST /get-online-features`` over loopback HTTP to uvicorn (one
  worker, keep-alive client, one request at a time), token checked (cached) per request.

Results: a Rich table, JSON on stdout and benchmarks/results/feature_server.json.

    python benchmarks/feature_server.py [--entities 10000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from timing import free_port, latency  # the sibling module (this script's folder is on sys.path)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NUMERIC = [f"n{i}" for i in range(10)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()

    import httpx
    import uvicorn

    from modelward.features import (
        Catalog,
        Entity,
        Feature,
        FeatureLookup,
        FeatureView,
        Record,
        open_online_store,
        read_vectors,
    )
    from modelward.features.packing import pack, to_us
    from modelward.security import Principal, Role
    from modelward.serving import create_feature_server
    from modelward.serving.auth import TokenVerifier

    view = FeatureView(
        "bench",
        entities=[Entity("e", "entity_id")],
        source="unused.parquet",
        features=[Feature(n, "float64") for n in NUMERIC]
        + [Feature("c1", "string"), Feature("c2", "string")],
        ttl=timedelta(days=1),
    )
    kinds = ["float64"] * len(NUMERIC) + ["string", "string"]
    now = datetime.now(UTC)
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="mw-feature-server-"))
    store = open_online_store({"type": "sqlite", "path": str(work / "online.db")}, work)
    records = [
        Record(
            str(k),
            to_us(now - timedelta(days=2 if k % 10 == 0 else 0, minutes=1)),
            0,
            pack([rng.random() for _ in NUMERIC] + ["red", f"seg{k % 40}"], kinds),
        )
        for k in range(args.entities)
    ]
    store.write(view.online_namespace, records)
    lookup = FeatureLookup(store, Catalog([view]))
    singles = [[rng.randrange(args.entities)] for _ in range(64)]
    hundreds = [rng.sample(range(args.entities), 100) for _ in range(64)]
    feats = ["bench"]

    def cycle(items: list[Any]) -> Callable[[], Any]:
        it = iter(range(1 << 62))
        return lambda: items[next(it) % len(items)]

    app = create_feature_server(
        lambda: lookup,
        TokenVerifier(lambda token: Principal("bench", Role.VIEWER), ttl_s=3600),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the feature server did not start within 30 s")
        time.sleep(0.05)

    results: dict[str, Any] = {
        "entities": args.entities,
        "requests": args.requests,
        "load": os.getloadavg(),
        "cases": {},
    }
    n100 = max(200, args.requests // 4)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer t"}
        ) as http:
            for size, keys, n in (("1", singles, args.requests), ("100", hundreds, n100)):
                pick = cycle(keys)
                results["cases"][f"raw lookup.get {size}"] = latency(
                    lambda f=pick: lookup.get({"entity_id": f()}, feats), n
                )
                results["cases"][f"read_vectors {size}"] = latency(
                    lambda f=pick: read_vectors(lookup, {"entity_id": f()}, feats), n
                )

                def over_http(f: Callable[[], Any] = pick) -> None:
                    answer = http.post(
                        "/get-online-features",
                        json={"features": feats, "entities": {"entity_id": f()}},
                    )
                    answer.raise_for_status()

                results["cases"][f"feature server HTTP {size}"] = latency(over_http, n)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()

    table = Table(title=f"feature server, {args.entities:,} entities (load {results['load']})")
    for col in ("case", "p50 µs", "p99 µs", "mean µs", "x raw p50"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for name, r in results["cases"].items():
        raw = results["cases"][f"raw lookup.get {name.rsplit(' ', 1)[1]}"]["p50_us"]
        table.add_row(
            name,
            f"{r['p50_us']:.0f}",
            f"{r['p99_us']:.0f}",
            f"{r['mean_us']:.0f}",
            f"{r['p50_us'] / raw:.1f}",
        )
    Console(stderr=True).print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "feature_server.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()

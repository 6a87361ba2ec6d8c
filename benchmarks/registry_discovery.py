"""What "MLflow is the source of truth" costs: discovery on a missed lookup, beside the limits.

A version registered by plain MLflow code is recorded by modelward the first time a lookup
misses (``get_version`` asks MLflow once, filtered to that model). This measures, in a
workspace whose MLflow registry holds ``--models`` x ``--versions`` versions:

- the gateway poll's per-endpoint resolve when the version is known (the steady state:
  one indexed read, no MLflow call), beside a bare SQLAlchemy select of the same row;
- a resolve that misses and discovers a version plain MLflow code just registered, beside
  the filtered MLflow search it makes and the full ``sync`` (what ``models list`` does);
- what a watermark mechanism would add to *every* poll (the newest version, from MLflow);
- ``promote`` (a transition to Staging, no gates) of a known version and of a version
  plain MLflow code registered a moment before (discovered inside the promote).

Prints a Rich table and JSON; writes benchmarks/results/registry_discovery.json.

    python benchmarks/registry_discovery.py [--models 10] [--versions 20] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
warnings.filterwarnings("ignore")


def _timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return _summary(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    from sqlalchemy import select

    from modelward import registry
    from modelward.config import Workspace, init_workspace
    from modelward.registry import lifecycle, tracking
    from modelward.registry.tables import model_versions
    from modelward.security import Principal, Role
    from modelward.session import Session

    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = init_workspace(Path(tmp) / "ws")
        ws = Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "bench"})
        session = Session(ws)
        client = tracking.client(ws)
        artifact = (root / "artifact").as_uri()
        with console.status("registering versions with plain MLflow calls"):
            for m in range(args.models):
                client.create_registered_model(f"m{m}")
                for _ in range(args.versions):
                    client.create_model_version(f"m{m}", artifact, None)
            registry.sync(session)
        boss = Principal("bench", Role.ADMIN)
        for m in range(args.models):
            lifecycle.set_gate_policy(session, boss, f"m{m}", "Staging", [])
        known = f"m0@{args.versions}"
        rows: dict[str, dict[str, float]] = {}
        engine = session.store.engine

        def bare_select() -> None:
            with engine.connect() as conn:
                conn.execute(
                    select(model_versions).where(
                        model_versions.c.model_name == "m0",
                        model_versions.c.version == args.versions,
                    )
                ).one()

        rows["resolve, known version (gateway poll)"] = _timed(
            lambda: registry.get_version(session, known), args.repeat * 10
        )
        rows["  limit: bare SQL select of the row"] = _timed(bare_select, args.repeat * 10)
        rows["resolve, known model, no such stage"] = _timed(
            lambda: _missing(session, "m0@production"), args.repeat * 10
        )
        rows["watermark a poll would add (newest version)"] = _timed(
            lambda: client.search_model_versions(
                max_results=1, order_by=["creation_timestamp DESC"]
            ),
            args.repeat,
        )

        def fresh(model: str) -> str:
            return f"{model}@{client.create_model_version(model, artifact, None).version}"

        rows["resolve, miss -> discover (new MLflow version)"] = _after_setup(
            lambda: fresh("m1"), lambda ref: registry.get_version(session, ref), args.repeat
        )
        rows["  limit: the filtered MLflow search alone"] = _timed(
            lambda: list(client.search_model_versions(filter_string="name = 'm1'")), args.repeat
        )
        rows["  full sync of every version (models list)"] = _timed(
            lambda: registry.sync(session), args.repeat
        )

        def discovered(model: str) -> str:
            ref = fresh(model)
            registry.get_version(session, ref)
            return ref

        def promote(ref: str) -> None:
            lifecycle.transition(session, boss, ref, "Staging", reason="bench")

        repeat = max(5, args.repeat // 3)
        rows["promote, known version"] = _after_setup(lambda: discovered("m2"), promote, repeat)
        rows["promote, just registered by plain MLflow"] = _after_setup(
            lambda: fresh("m3"), promote, repeat
        )
        session.close()

    table = Table(
        title=f"registry discovery: {args.models} models x {args.versions} versions in MLflow"
    )
    for col in ("path", "median ms", "p90 ms", "n"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for label, r in rows.items():
        table.add_row(label, f"{r['median_ms']:.2f}", f"{r['p90_ms']:.2f}", str(r["n"]))
    console.print(table)
    result = {
        "benchmark": "registry_discovery",
        "models": args.models,
        "versions_per_model": args.versions,
        "python": sys.version.split()[0],
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "registry_discovery.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def _after_setup(
    setup: Callable[[], str], fn: Callable[[str], object], repeat: int
) -> dict[str, float]:
    """Time ``fn(setup())``, the setup left out of each sample."""
    samples = []
    for _ in range(repeat):
        arg = setup()
        began = time.perf_counter()
        fn(arg)
        samples.append((time.perf_counter() - began) * 1000)
    return _summary(samples)


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p90_ms": round(sorted(samples)[max(0, int(len(samples) * 0.9) - 1)], 3),
        "n": len(samples),
    }


def _missing(session: object, ref: str) -> None:
    from modelward import registry
    from modelward.errors import NotFound

    try:
        registry.get_version(session, ref)  # type: ignore[arg-type]
    except NotFound:
        return
    raise AssertionError(f"{ref} exists")


if __name__ == "__main__":
    main()

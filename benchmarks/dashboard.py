"""Server-side render time of each dashboard page on a big workspace, beside the raw limit.

Seeds (in bulk, into a fresh workspace under benchmarks/.data/dashboard): ``--versions``
versions of one model with complete lineage, ``--endpoints`` endpoints (the first with a
live canary), and ``--predictions`` logged predictions spread over the endpoints and the
last 24 hours in the workspace's prediction log (``--log``: segments, what a new
workspace uses, or SQLite, the log of older ones). Then renders every page
``--repeat`` times in process (Starlette's test client, signed in as a viewer) and
reports the median and p95 wall time per page.

The raw limit beside each page is the context's public read that page is built on,
called alone on the same data (e.g. ``list_versions`` for the model page,
``read_window`` for an endpoint page): what rendering adds is the difference.

Prints a Rich table and JSON; writes benchmarks/results/dashboard.json. Other processes
share the CPU: the machine's load average is printed beside the numbers.

    python benchmarks/dashboard.py [--versions 1000] [--endpoints 100]
                                   [--predictions 1000000] [--repeat 15] [--log sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATA = HERE / ".data" / "dashboard"
sys.path.insert(0, str(HERE.parent))


def _lineage() -> dict[str, Any]:
    from modelward.registry.lineage import empty_record

    record = empty_record()
    record.update(
        model_artifact={"uri": "models:/m-1"},
        datasets=[{"snapshot_id": "s1", "name": "c", "version": 1, "content_hash": "sha256:a"}],
        feature_views=[],
        params={"max_depth": "3", "eta": "0.1"},
        metrics={"overall": {"auc": 0.9}, "segments": {"new": {"auc": 0.85}}},
        evaluation={"snapshot_id": "s1", "content_hash": "sha256:a"},
        split={"logic": "random 80/20", "seed": 7},
        environment={"python": "3.11.7", "packages": {"numpy": "2.0"}, "packages_hash": "sha256:b"},
        git={"commit": "abc", "dirty": False},
        author="ana",
    )
    return record


def seed(args: argparse.Namespace, console: Console) -> tuple[Any, str]:
    from sqlalchemy import insert

    from modelward import monitoring, serving
    from modelward.config import Workspace, init_workspace
    from modelward.registry.tables import model_versions, registered_models
    from modelward.security import Role, bootstrap_admin, create_identity, issue_token
    from modelward.session import Session

    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    root = init_workspace(DATA / "ws", project="bench")
    if args.log == "sqlite":  # a workspace made before segments became the new default
        config = root / "modelward.toml"
        config.write_text(config.read_text().split("[serving.prediction_log]")[0])
    session = Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "bench"}))
    boss = bootstrap_admin(session)[0].principal()
    create_identity(session, boss, "vic", Role.VIEWER.value)
    _, token = issue_token(session, boss, "vic", "bench")
    now = datetime.now(UTC)
    lineage = _lineage()
    with session.store.transaction() as conn:
        conn.execute(
            insert(registered_models).values(
                name="churn",
                created_by="bench",
                created_at=now,
                revision=0,
                approval_policy={"Production": 1},
                gate_policy={},
            )
        )
        conn.execute(
            insert(model_versions),
            [
                {
                    "model_name": "churn",
                    "version": n,
                    "stage": "None",
                    "source": "modelward",
                    "run_id": None,
                    "model_uri": f"models:/churn/{n}",
                    "lineage": lineage,
                    "lineage_complete": True,
                    "lineage_missing": [],
                    "created_by": "bench",
                    "created_at": now,
                }
                for n in range(1, args.versions + 1)
            ],
        )
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("endpoints", total=args.endpoints)
        for i in range(args.endpoints):
            spec = serving.parse_spec(
                {
                    "name": f"ep{i:03d}",
                    "model": f"churn@{1 + i % args.versions}",
                    "request": {"customer_id": "int", "discount": "float"},
                    "entity_keys": ["customer_id"],
                }
            )
            serving.create_endpoint(session, boss, spec)
            progress.advance(task)
        serving.start_release(
            session, boss, "ep000", candidate=f"churn@{min(2, args.versions)}", strategy="canary"
        )
        # ep001 mirrors every request to a shadow candidate: its rows come in pairs
        mirrored = serving.start_release(
            session, boss, "ep001", candidate=f"churn@{min(3, args.versions)}", strategy="shadow"
        )
        mirrored_us = int(mirrored.created_at.timestamp() * 1e6)
        sink = monitoring.open_workspace_log(session)
        task = progress.add_task("predictions", total=args.predictions)
        batch = 50_000
        span_us = 24 * 3600 * 1_000_000
        n = args.predictions
        step_us = span_us // max(n, 1)  # a shuffled, even spread over the 24 hours
        start_us = int((now - timedelta(hours=24)).timestamp() * 1e6)
        for first in range(0, args.predictions, batch):
            rows = []
            for i in range(first, min(first + batch, args.predictions)):
                record = monitoring.PredictionRecord(
                    f"r{i}",
                    start_us + ((i * 7919) % n) * step_us,
                    f"ep{i % args.endpoints:03d}",
                    "churn",
                    "1" if i % 5 else "2",
                    {"customer_id": i, "discount": 0.1, "plan": "pro" if i % 3 else "basic"},
                    0.3,
                    4.0 + i % 23,
                    i % 50 == 0,
                    error="Timeout" if i % 211 == 0 else "",
                )
                if record.endpoint == "ep001":
                    # the report reads the release's life: rows since it started
                    at_us = mirrored_us + i // args.endpoints
                    record = record._replace(release_id=mirrored.id, at_us=at_us)
                    rows.append(
                        record._replace(
                            model_version=mirrored.candidate.split("@")[1],
                            role="shadow",
                            prediction=0.3 + (i % 7) / 10,
                            error="",
                        )
                    )
                rows.append(record)
            sink.write(rows)
            progress.advance(task, len(rows))
        sink.close()
    return session, token


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    fn()  # warm: imports, template compilation, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--log", choices=["segments", "sqlite"], default="segments", help="the prediction log"
    )
    args = parser.parse_args()
    console = Console(width=150)

    from fastapi.testclient import TestClient

    from modelward import features, monitoring, pipelines, registry, rollout, security, serving
    from modelward.api import create_app
    from modelward.readiness import readiness
    from modelward.web import mount_dashboard
    from modelward.web.traffic import TRAFFIC_COLUMNS

    began = time.perf_counter()
    session, token = seed(args, console)
    seeded_s = time.perf_counter() - began
    client = TestClient(mount_dashboard(create_app(session), session), follow_redirects=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/signin").text)
    assert csrf is not None
    signed = client.post("/ui/signin", data={"csrf": csrf.group(1), "token": token})
    assert signed.status_code == 303, signed.text
    sink = monitoring.open_workspace_log(session)
    now_us = int(time.time() * 1e6)

    def window(hours: int, columns: Any = TRAFFIC_COLUMNS) -> Callable[[], Any]:
        start_us = now_us - hours * 3600 * 10**6
        return lambda: sink.read_window("ep000", start_us=start_us, columns=columns)

    def audit() -> None:
        with session.store.read() as conn:
            list(security.entries(conn, newest=200))
            security.verify(conn)

    middle = max(1, args.versions // 2)
    pages: list[tuple[str, str, Callable[[], Any]]] = [
        (
            "/ui/",
            "list_models + list_endpoints + live releases",
            lambda: (
                registry.list_models(session),
                serving.list_endpoints(session),
                rollout.list_releases(session, live_only=True),
            ),
        ),
        ("/ui/models", "list_models", lambda: registry.list_models(session)),
        (
            "/ui/models/churn",
            "list_versions (all 1,000; the page reads 101)",
            lambda: registry.list_versions(session, "churn", discover=False),
        ),
        (
            f"/ui/models/churn/{middle}",
            "lineage_report",
            lambda: registry.lineage_report(session, f"churn@{middle}"),
        ),
        (
            "/ui/endpoints",
            "list_endpoints + current_plans",
            lambda: (serving.list_endpoints(session), rollout.current_plans(session)),
        ),
        ("/ui/endpoints/ep000?span=1h", "read_window (1 h, traffic columns)", window(1)),
        ("/ui/endpoints/ep000?span=24h", "read_window (24 h, traffic columns)", window(24)),
        (
            "/ui/monitoring",
            "list_alerts + list_endpoints",
            lambda: (monitoring.list_alerts(session), serving.list_endpoints(session)),
        ),
        ("/ui/audit", "entries(200) + verify", audit),
        (
            "/ui/endpoints/ep001/shadow?segment=plan",
            "shadow_report (10,000 mirrored pairs, by plan)",
            lambda: rollout.shadow_report(session, sink, "ep001", segments=["plan"]),
        ),
        (
            "/ui/monitoring/ep000",
            "list_runs (50)",
            lambda: monitoring.list_runs(session, "ep000", limit=50),
        ),
        (
            f"/ui/readiness?ref=churn@{middle}&endpoint=ep000",
            "readiness",
            lambda: readiness(session, f"churn@{middle}", endpoint="ep000"),
        ),
        (
            "/ui/pipelines",
            "pipelines.list_runs (100)",
            lambda: pipelines.list_runs(session, None, limit=100),
        ),
        ("/ui/features", "features.list_views", lambda: features.list_views(session)),
    ]
    rows = []
    for path, raw_name, raw in pages:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        assert "No mirrored request is paired yet" not in answer.text, path  # real pairs
        p50, p95 = _timed(lambda p=path: client.get(p), args.repeat)
        raw50, _ = _timed(raw, args.repeat)
        rows.append(
            {
                "page": path,
                "p50_ms": p50,
                "p95_ms": p95,
                "raw": raw_name,
                "raw_p50_ms": raw50,
                "bytes": len(answer.content),
            }
        )
    # the page's read before it asked for its columns only: every column, inputs decoded
    whole_p50, _ = _timed(window(24, None), args.repeat)
    sink.close()
    load = os.getloadavg()
    table = Table(
        title=(
            f"dashboard pages: {args.versions:,} versions, {args.endpoints} endpoints, "
            f"{args.predictions:,} predictions (load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
            f"{os.cpu_count()} cores)"
        )
    )
    for column in ("page", "p50 ms", "p95 ms", "raw limit", "raw p50 ms", "KiB"):
        table.add_column(column, justify="left" if column in ("page", "raw limit") else "right")
    for r in rows:
        table.add_row(
            r["page"],
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            r["raw"],
            f"{r['raw_p50_ms']:.1f}",
            f"{r['bytes'] / 1024:.0f}",
        )
    console.print(table)
    console.print(f"read_window (24 h, every column, as before the projection): {whole_p50:.1f} ms")
    result = {
        "sizes": vars(args),
        "seed_s": seeded_s,
        "load_average": load,
        "cpus": os.cpu_count(),
        "pages": rows,
        "window_24h_every_column_p50_ms": whole_p50,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dashboard.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    session.close()


if __name__ == "__main__":
    main()

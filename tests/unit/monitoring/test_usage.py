"""System figures: each gateway worker's CPU and memory samples, priced per 1,000 predictions,
in the run's result, its rules, its gauges and its report."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import insert, select

from modelward.config import Workspace
from modelward.errors import StoreUnavailable
from modelward.monitoring import (
    MonitoringCollector,
    UsageReporter,
    build_profile,
    render_monitor_html,
    run_monitor,
    save_profile,
    system_figures,
)
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.monitoring.rules import rule_metric
from modelward.monitoring.tables import worker_usage
from modelward.session import Session
from tests.unit.monitoring.support import T0_US, logged, training_rows

START = datetime.fromtimestamp(T0_US / 1e6, UTC)
HOUR = timedelta(hours=1)


def _sample(worker: str, minute: int, cpu_s: float, rss_mib: int, predictions: int) -> Any:
    return {
        "worker": worker,
        "at": START + timedelta(minutes=minute),
        "interval_s": 60.0,
        "cpu_s": cpu_s,
        "rss_bytes": rss_mib * 2**20,
        "predictions": predictions,
    }


def _store_samples(session: Session, rows: list[Any]) -> None:
    with session.store.transaction() as conn:
        conn.execute(insert(worker_usage), rows)


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Any:
    with Session(sqlite_workspace) as opened:
        yield opened


def test_a_reporter_stores_each_interval_with_only_the_new_predictions(session: Session) -> None:
    written = [10]
    reporter = UsageReporter(session.store, lambda: written[0], worker="host:1:000000")
    written[0] = 250
    first = reporter.report()
    written[0] = 400
    second = reporter.report()
    assert first is not None and second is not None
    assert (first.predictions, second.predictions) == (240, 150)
    with session.store.read() as conn:
        stored = conn.execute(select(worker_usage).order_by(worker_usage.c.at)).all()
    assert [(r.worker, r.predictions) for r in stored] == [
        ("host:1:000000", 240),
        ("host:1:000000", 150),
    ]
    assert all(r.rss_bytes > 0 and r.cpu_s >= 0 for r in stored)


class _Unreachable:
    def transaction(self) -> Any:
        raise StoreUnavailable("metadata database down", store="test")


def test_an_interval_the_database_refused_joins_the_next_one() -> None:
    written = [0]
    reporter = UsageReporter(_Unreachable(), lambda: written[0])  # type: ignore[arg-type]
    written[0] = 100
    assert reporter.report() is None
    written[0] = 130
    # nothing was stored, so the next sample still counts from the start
    assert reporter.sample().predictions == 130


def test_a_stopped_reporter_stores_its_last_partial_interval(session: Session) -> None:
    reporter = UsageReporter(session.store, lambda: 7, interval_s=3600)

    async def serve() -> None:
        await reporter.start()
        await reporter.stop()

    asyncio.run(serve())
    with session.store.read() as conn:
        stored = conn.execute(select(worker_usage.c.worker)).scalars().all()
    assert stored == [reporter.worker]


def test_figures_are_per_worker_and_priced_per_1000_predictions(session: Session) -> None:
    _store_samples(
        session,
        [
            _sample("a", 0, cpu_s=30.0, rss_mib=300, predictions=6_000),
            _sample("a", 1, cpu_s=18.0, rss_mib=320, predictions=3_000),
            _sample("b", 0, cpu_s=6.0, rss_mib=250, predictions=1_000),
            _sample("b", 90, cpu_s=60.0, rss_mib=999, predictions=9_999),  # after the window
        ],
    )
    figures = system_figures(session, START, START + HOUR, cost_per_core_hour=0.36)
    assert figures is not None
    by_worker = {w["worker"]: w for w in figures["per_worker"]}
    assert by_worker["a"]["cpu"] == pytest.approx(0.4)  # 48 CPU s over 120 s
    assert by_worker["a"]["rss_mb"] == 320
    assert by_worker["b"]["cpu"] == pytest.approx(0.1)
    assert figures["workers"] == 2
    assert figures["cpu_max"] == pytest.approx(0.4)
    assert figures["cpu_mean"] == pytest.approx(54 / 180)
    assert figures["predictions"] == 10_000
    # 180 worker-seconds at 0.36 per core-hour is 0.018, over 10,000 predictions
    assert figures["cost_per_1000"] == pytest.approx(0.0018)
    assert system_figures(session, START + 2 * HOUR, START + 3 * HOUR, cost_per_core_hour=1) is None


def test_system_metrics_are_endpoint_wide_and_unmeasured_without_samples() -> None:
    system = {"cpu_max": 0.9, "cost_per_1000": None}
    assert rule_metric("system.cpu_max", None, [], system) == 0.9
    assert rule_metric("system.cost_per_1000", None, [], system) is None
    assert rule_metric("system.cpu_max", None, [], None) is None


def test_a_run_stores_the_figures_fires_a_system_rule_and_shows_them(
    sqlite_workspace: Workspace,
) -> None:
    (sqlite_workspace.root / "modelward.toml").write_text(
        "[serving]\ncost_per_core_hour = 0.36\n"
        '[[monitoring.rules]]\nname = "hot"\nwhen = "system.cpu_max > 0.3"\npersistence = 1\n'
        '[[monitoring.rules]]\nname = "dear"\nwhen = "system.cost_per_1000 > 0.01"\n'
    )
    ws = Workspace.open(sqlite_workspace.root, environ={"MODELWARD_IDENTITY__USER": "t"})
    with Session(ws) as session:
        save_profile(session, "churn", 1, build_profile(training_rows(600)), actor="t")
        log = MemoryPredictionSink()
        log.write(logged(600))
        quiet = run_monitor(session, "churn", window=HOUR, end=START + HOUR, log=log)
        assert quiet.system is None
        assert "rule hot: system.cpu_max not measured" in quiet.notes
        _store_samples(
            session,
            [
                _sample("a", 5, cpu_s=30.0, rss_mib=300, predictions=6_000),
                _sample("b", 5, cpu_s=6.0, rss_mib=250, predictions=4_000),
            ],
        )
        result = run_monitor(session, "churn", window=HOUR, end=START + HOUR, log=log)
        assert result.system is not None
        assert result.system["cost_per_1000"] == pytest.approx(0.0012)
        assert [a["key"] for a in result.alerts] == ["rule:hot"]
        assert "system.cpu_max = 0.5 > 0.3" in result.alerts[0]["message"]
        stored = result.to_dict()
        page = render_monitor_html(stored, {})
        assert "<h2>System</h2>" in page
        assert "0.0012 at 0.36/core-h" in page
        registry = CollectorRegistry(auto_describe=False)
        registry.register(MonitoringCollector(session, cache_s=0))
        text = generate_latest(registry).decode()
    assert 'modelward_monitor_cost_per_1000_predictions{endpoint="churn"} 0.0012' in text
    assert 'modelward_monitor_worker_cpu_max_cores{endpoint="churn"} 0.5' in text
    assert 'modelward_monitor_worker_memory_max_bytes{endpoint="churn"} 3.145728e+08' in text

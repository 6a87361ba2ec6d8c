"""AUC and calibration per segment over the stored runs, in the report's JSON and drawn."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelward.config import Workspace
from modelward.monitoring import (
    build_profile,
    ingest_labels,
    run_monitor,
    save_profile,
    write_monitor_report,
)
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.monitoring.trends import performance_trends, trends_html
from modelward.security import Principal, Role
from modelward.session import Session
from tests.unit.monitoring.support import T0_US, logged, training_rows

START = datetime.fromtimestamp(T0_US / 1e6, UTC)
HOUR = timedelta(hours=1)


def _run(at: str, auc: float | None, pro_auc: float | None, version: str = "3") -> Any:
    return {
        "id": at,
        "window_end": at,
        "versions": [
            {
                "version": version,
                "performance": {
                    "auc": auc,
                    "ece": 0.05,
                    "segments": {"plan": {"pro": {"auc": pro_auc, "ece": 0.1}}},
                },
            }
        ],
    }


def test_trends_are_in_window_order_with_gaps_where_a_window_had_no_labels() -> None:
    runs = [
        _run("2026-01-01T03:00:00+00:00", 0.8, None),  # no labelled "pro" rows then
        _run("2026-01-01T01:00:00+00:00", 0.9, 0.9),
        _run("2026-01-01T02:00:00+00:00", 0.85, 0.6),
    ]
    trends = performance_trends(runs)
    assert trends["runs"] == 3
    assert [p["value"] for p in trends["overall"]["auc"]["3"]] == [0.9, 0.85, 0.8]
    pro = trends["segments"]["plan"]["pro"]["auc"]["3"]
    assert [(p["at"][11:16], p["value"]) for p in pro] == [("01:00", 0.9), ("02:00", 0.6)]
    page = trends_html(trends)
    assert "plan: AUC (higher is better)" in page
    assert page.count("<polyline") == 4  # overall AUC, overall ECE, pro AUC, pro ECE


def test_no_labels_in_any_run_says_how_to_get_the_charts() -> None:
    trends = performance_trends([_run("2026-01-01T01:00:00+00:00", None, None)])
    trends["overall"]["ece"] = {}
    trends["segments"] = {}
    assert "modelward labels ingest" in trends_html(trends)


def test_the_report_draws_a_segment_falling_run_after_run(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    dev = Principal("dev", Role.DEVELOPER)
    with Session(sqlite_workspace) as session:
        save_profile(session, "churn", 3, build_profile(training_rows(600)), actor="t")
        log = MemoryPredictionSink()
        for hour, pro_right in enumerate([True, True, False]):
            records = logged(300, seed=hour + 1, version="3", start_us=T0_US + hour * 3_600_000_000)
            log.write(records)
            # the model stays right on basic/enterprise; on pro it turns wrong in hour 3
            labels = [
                {
                    "request_id": r.request_id,
                    "label": int(r.prediction > 0.3)
                    if r.inputs["plan"] != "pro" or pro_right
                    else int(r.prediction < 0.3),
                }
                for r in records
            ]
            ingest_labels(session, dev, "churn", labels, log=log)
            run_monitor(
                session,
                "churn",
                window=HOUR,
                end=START + (hour + 1) * HOUR,
                log=log,
                segments=["plan"],
            )
        html_path, json_path = write_monitor_report(session, "churn", folder=tmp_path)
    stored = json.loads(json_path.read_text())
    plan = stored["trends"]["segments"]["plan"]
    assert [p["value"] for p in plan["pro"]["auc"]["3"]] == pytest.approx([1.0, 1.0, 0.0])
    assert [p["value"] for p in plan["basic"]["auc"]["3"]] == pytest.approx([1.0, 1.0, 1.0])
    assert len(plan["pro"]["ece"]["3"]) == 3
    page = html_path.read_text()
    assert "<h2>Performance over time</h2>" in page
    assert "plan: ECE (lower is better)" in page
    assert "pro (v3)" in page

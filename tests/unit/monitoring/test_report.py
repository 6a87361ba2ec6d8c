"""The monitor report written as HTML and JSON: AUC and ECE per segment over the stored runs,
with a segment falling run after run drawn."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from modelward.security import Principal, Role
from modelward.session import Session
from tests.unit.monitoring.support import T0_US, logged, training_rows

START = datetime.fromtimestamp(T0_US / 1e6, UTC)


HOUR = timedelta(hours=1)


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

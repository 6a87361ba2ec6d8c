"""`modelward labels ingest` and `modelward monitor run | report`, in process, as a user runs
them on a workspace whose gateway logged predictions (the SQLite log, the default)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelward.config import Workspace
from modelward.monitoring import build_profile, open_workspace_log, save_profile
from modelward.security.tokens import bootstrap_admin
from modelward.session import Session
from tests.unit.monitoring.support import logged, training_rows
from tests.unit.registry.support import cli

END = "2026-01-01T01:00:00+00:00"


class Model:
    feature_importances_ = np.array([0.6, 0.3, 0.1])


@pytest.fixture
def logged_workspace(sqlite_workspace: Workspace) -> Workspace:
    with Session(sqlite_workspace) as session:
        bootstrap_admin(session)
        profile = build_profile(training_rows(3_000), model=Model())
        save_profile(session, "churn", 1, profile, actor="tester")
        log = open_workspace_log(session)
        try:
            log.write(logged(1_200, spend_shift=0.5))
        finally:
            log.close()
    return sqlite_workspace


def test_labels_ingest_counts_unknown_ids_and_is_idempotent(
    logged_workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "request_id,label,labelled_at\n"
        + "".join(f"churn-1-1-{i},{i % 2},2026-02-01T00:00:00+00:00\n" for i in range(200))
        + "ghost,1,2026-02-01T00:00:00+00:00\n"
    )
    args = ("labels", "ingest", str(labels), "--endpoint", "churn", "--json")
    code, out, err = cli(capsys, monkeypatch, logged_workspace, *args)
    assert code == 0, err
    assert json.loads(out) == {
        "received": 201,
        "stored": 201,
        "updated": 0,
        "duplicates": 0,
        "unknown": 1,
    }
    code, out, _ = cli(capsys, monkeypatch, logged_workspace, *args)
    assert json.loads(out)["duplicates"] == 201
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,value\nx,1\n")
    code, _, err = cli(
        capsys, monkeypatch, logged_workspace, "labels", "ingest", str(bad), "-e", "churn"
    )
    assert code == 2 and "missing column(s) label" in err


def test_monitor_run_prints_the_drift_and_report_writes_html_and_json(
    logged_workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = cli(
        capsys,
        monkeypatch,
        logged_workspace,
        "monitor",
        "run",
        "churn",
        "--window",
        "1h",
        "--end",
        END,
    )
    assert code == 0, err
    assert "1200 predictions" in out
    assert "monthly_spend" in out and "drift" in out
    code, out, err = cli(
        capsys,
        monkeypatch,
        logged_workspace,
        "monitor",
        "report",
        "churn",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert code == 0, err
    paths = json.loads(out)
    page = Path(paths["html"]).read_text()
    assert "<svg" in page and "monthly_spend: drift" in page
    assert "src=" not in page and "<script" not in page  # self-contained
    stored = json.loads(Path(paths["json"]).read_text())
    assert [f["feature"] for f in stored["findings"]] == ["monthly_spend"]


def test_monitor_bad_input_is_named(
    logged_workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = cli(
        capsys, monkeypatch, logged_workspace, "monitor", "run", "churn", "--window", "soon"
    )
    assert code == 2 and "--window" in err
    code, _, err = cli(capsys, monkeypatch, logged_workspace, "monitor", "run", "../x")
    assert code == 2 and "endpoint" in err
    code, _, err = cli(capsys, monkeypatch, logged_workspace, "monitor", "report", "quiet")
    assert code != 0 and "has no monitor run yet" in err


def test_kpis_ingest_reads_a_file_of_declared_kpis(
    logged_workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    toml = logged_workspace.root / "modelward.toml"
    toml.write_text(toml.read_text() + '\n[monitoring]\nkpis = {conversion = "up"}\n')
    events = tmp_path / "kpis.csv"
    events.write_text("name,at,value\nconversion,2026-01-01T00:10:00+00:00,0.1\n")
    args = ("kpis", "ingest", str(events), "--endpoint", "churn", "--json")
    code, out, err = cli(capsys, monkeypatch, logged_workspace, *args)
    assert code == 0, err
    assert json.loads(out) == {"received": 1, "stored": 1, "updated": 0, "duplicates": 0}
    code, out, err = cli(
        capsys, monkeypatch, logged_workspace, "monitor", "run", "churn", "--end", END
    )
    assert code == 0, err
    assert "conversion" in out
    code, out, err = cli(
        capsys,
        monkeypatch,
        logged_workspace,
        "monitor",
        "report",
        "churn",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert code == 0, err
    assert "<h2>KPIs</h2>" in Path(json.loads(out)["html"]).read_text()

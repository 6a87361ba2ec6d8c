"""``modelward monitor alerts`` and ``modelward monitor ack`` as an on-call person runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from modelward.cli.app import main
from modelward.config import Workspace
from modelward.monitoring.tables import alert_states
from modelward.security import bootstrap_admin
from modelward.session import Session


@pytest.fixture
def ws(cli_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = cli_workspace
    monkeypatch.setenv("MODELWARD_IDENTITY__USER", "oncall")
    with Session(Workspace.open(root)) as session:
        bootstrap_admin(session)  # the local token the CLI signs in with, as `init` makes
        at = datetime(2026, 12, 2, 10, tzinfo=UTC)
        with session.store.transaction() as conn:
            conn.execute(
                insert(alert_states).values(
                    endpoint="churn",
                    key="model_drift:1",
                    state="firing",
                    fired_at=at,
                    last_sent_at=at,
                    message="monthly_spend drifts and AUC fell",
                )
            )
    return root


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``modelward monitor ARGS`` through the entry point (errors become exit codes)."""
    try:
        main(["monitor", *args])
        code = 0
    except SystemExit as exit:
        code = int(exit.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_an_alert_is_listed_acknowledged_once_and_shows_who_is_on_it(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(capsys, "alerts", "--json")
    assert code == 0
    [alert] = json.loads(out)
    assert (alert["key"], alert["state"], alert["acknowledged_by"]) == (
        "model_drift:1",
        "firing",
        None,
    )
    code, out = cli(capsys, "ack", "churn", "model_drift:1", "--note", "checking the spend feed")
    assert code == 0, out
    assert "acknowledged by oncall" in out
    code, out = cli(capsys, "alerts", "churn")  # the table (its width is the terminal's)
    assert code == 0
    code, out = cli(capsys, "alerts", "churn", "--json")
    [alert] = json.loads(out)
    assert (alert["acknowledged_by"], alert["acknowledge_note"]) == (
        "oncall",
        "checking the spend feed",
    )
    code, out = cli(capsys, "ack", "churn", "model_drift:1")
    assert code != 0 and "already acknowledged by oncall" in out
    code, out = cli(capsys, "ack", "churn", "model_drift:7")
    assert code != 0 and "no such alert" in out

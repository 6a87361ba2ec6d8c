"""What a retraining policy looks at: gathered once per look from the other contexts, kept
with the decision in a short form, and the day's budget counted in UTC days."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from modelward.config import Workspace
from modelward.retraining.evidence import Evidence, gather
from modelward.retraining.policies import RetrainPolicy
from modelward.retraining.switches import EVERY_POLICY, set_switch
from modelward.retraining.tables import retrain_episodes
from modelward.security.roles import Principal, Role
from modelward.session import Session

NOW = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)
POLICY = RetrainPolicy.model_validate(
    {"name": "churn-retrain", "endpoint": "churn", "model": "churn", "pipeline": "churn"}
)
OPERATOR = Principal("ops", Role.OPERATOR)


def test_a_monitor_runs_figures_are_the_serving_versions_own() -> None:
    run = {"versions": [{"version": "2", "rows": 5}, {"version": "3", "rows": 9}]}
    assert Evidence(NOW, "churn@3").version_result(run) == {"version": "3", "rows": 9}
    assert Evidence(NOW, "churn@4").version_result(run) is None  # not in this window
    assert Evidence(NOW, None).version_result(run) is None  # nothing serves


def test_the_stored_form_keeps_what_identifies_runs_and_alerts_only() -> None:
    seen = Evidence(
        NOW,
        "churn@3",
        runs=[{"id": "r1", "window_end": "2026-12-01T22:00:00+00:00", "rows": 600, "versions": []}],
        alerts=[{"key": "model_drift:3", "state": "firing", "message": "m", "fired_at": NOW}],
        datasets={"customers": (4, 6)},
    )
    data = seen.to_dict()
    assert data["now"] == "2026-12-01T22:30:00+00:00"
    assert data["runs"] == [{"id": "r1", "window_end": "2026-12-01T22:00:00+00:00", "rows": 600}]
    assert data["alerts"] == [{"key": "model_drift:3", "state": "firing", "message": "m"}]
    assert data["datasets"] == {"customers": (4, 6)}


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def test_with_nothing_in_production_there_is_nothing_to_compare(session: Session) -> None:
    seen = gather(session, POLICY, NOW)
    assert (seen.serving, seen.held_out, seen.datasets, seen.schema_changed) == (None, {}, {}, [])
    assert (seen.runs, seen.alerts, seen.runs_today, seen.switched_off) == ([], [], 0, None)


def test_a_kill_switch_off_is_named_with_who_and_why(session: Session) -> None:
    set_switch(session, OPERATOR, "churn-retrain", enabled=False, reason="labels late")
    assert gather(session, POLICY, NOW).switched_off == (
        "kill switch off for policy churn-retrain by ops: labels late"
    )
    set_switch(session, OPERATOR, EVERY_POLICY, enabled=False, reason="incident 42")
    # every policy's switch is read first: the wider reason is the one given
    assert gather(session, POLICY, NOW).switched_off == (
        "kill switch off for every policy by ops: incident 42"
    )
    set_switch(session, OPERATOR, "fraud-retrain", enabled=False, reason="other")
    set_switch(session, OPERATOR, EVERY_POLICY, enabled=True, reason="over")
    set_switch(session, OPERATOR, "churn-retrain", enabled=True, reason="labels in")
    assert gather(session, POLICY, NOW).switched_off is None  # another policy's switch


def episode(session: Session, at: datetime, decision: str, cpu_s: float, policy: str) -> None:
    with session.store.transaction() as conn:
        conn.execute(
            insert(retrain_episodes).values(
                id=uuid.uuid4().hex,
                policy=policy,
                key=f"performance:{uuid.uuid4().hex}",
                kind="performance",
                decision=decision,
                state="released",
                reason="r",
                checks=[],
                evidence={},
                stage=0,
                cpu_s=cpu_s,
                linked=0,
                created_by="test-setup",
                created_at=at,
                updated_at=at,
            )
        )


def test_the_days_runs_are_this_policys_runs_since_midnight_utc(session: Session) -> None:
    midnight = NOW.replace(hour=0, minute=0)
    episode(session, midnight + timedelta(hours=1), "retrain", 120.0, "churn-retrain")
    episode(session, midnight + timedelta(hours=2), "recalibrate", 30.5, "churn-retrain")
    episode(session, midnight + timedelta(hours=3), "wait", 0.0, "churn-retrain")  # no run
    episode(session, midnight - timedelta(minutes=1), "retrain", 999.0, "churn-retrain")
    episode(session, midnight + timedelta(hours=1), "retrain", 999.0, "fraud-retrain")
    seen = gather(session, POLICY, NOW)
    assert (seen.runs_today, seen.cpu_today_s) == (2, 150.5)
    # 00:30 at UTC+2 is 22:30 the day before in UTC: the same UTC day, the same count
    east = NOW.astimezone(timezone(timedelta(hours=2)))
    assert east.day == 2
    again = gather(session, POLICY, east)
    assert (again.now, again.runs_today) == (NOW, 2)

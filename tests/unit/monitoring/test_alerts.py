"""The alert rule: when it fires, its persistence, cooldown, acknowledgement and resolution."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from modelward import security
from modelward.config import Workspace
from modelward.errors import Conflict, InputError, NotFound, PermissionDenied
from modelward.monitoring import (
    AlertPolicy,
    acknowledge_alert,
    build_profile,
    ingest_kpis,
    ingest_labels,
    list_alerts,
    run_monitor,
    save_profile,
)
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.security import Principal, Role
from modelward.session import Session
from tests.unit.monitoring.support import T0_US, logged, training_rows

DEV = Principal("dev", Role.DEVELOPER)


HOUR = timedelta(hours=1)


START = datetime.fromtimestamp(T0_US / 1e6, UTC)


def version(features: list[dict[str, Any]], auc: float | None) -> dict[str, Any]:
    return {"version": "1", "drift": {"features": features}, "performance": {"auc": auc}}


def feature(name: str, status: str = "stable", quality: list[str] | None = None) -> dict:
    return {"feature": name, "status": status, "quality": quality or []}


WEIGHTS = {"1": {"spend": 0.6, "tickets": 0.35, "plan": 0.05}}


class Model:
    feature_importances_ = np.array([0.6, 0.3, 0.1])


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as opened:
        profile = build_profile(training_rows(3_000), model=Model(), metrics={"roc_auc": 0.85})
        save_profile(opened, "churn", 1, profile, actor="tester")
        yield opened


def _labelled_window(
    session: Session, log: MemoryPredictionSink, start_us: int, shift: float
) -> None:
    records = logged(1_000, spend_shift=shift, start_us=start_us, seed=start_us % 97)
    log.write(records)
    # labels unrelated to the scores: AUC about 0.5, far below the 0.85 held out
    rng = np.random.default_rng(3)
    labels = [{"request_id": r.request_id, "label": int(rng.random() < 0.3)} for r in records]
    ingest_labels(session, DEV, "churn", labels, log=log)


@pytest.mark.parametrize(
    ("features", "auc", "expected"),
    [
        # drift on an important feature and the AUC fell: model drift
        ([feature("spend", "drift")], 0.70, [("model_drift", ["spend"])]),
        # the drifting feature also lost values: the pipeline, not the model
        (
            [feature("spend", "drift", ["null_rate_jump"])],
            0.70,
            [("data_pipeline_incident", ["spend"])],
        ),
        # an unimportant feature drifting is not actionable
        ([feature("plan", "drift")], 0.70, []),
        # the AUC holds: nothing moves the wrong way
        ([feature("spend", "drift")], 0.79, []),
        # no labels yet: no evidence, no alert
        ([feature("spend", "drift")], None, []),
    ],
)
def test_the_rule_fires_only_when_drift_meets_a_performance_fall(
    features: list[dict[str, Any]], auc: float | None, expected: list[tuple[str, list[str]]]
) -> None:
    from modelward.monitoring.alerts import conditions_of

    found, notes = conditions_of([version(features, auc)], WEIGHTS, {"1": 0.80}, AlertPolicy())
    assert [(c.kind, c.features) for c in found] == expected
    if not expected and features[0]["feature"] != "plan":
        assert notes  # the run says why it stayed silent


def test_persistence_cooldown_and_resolution_each_audited(session: Session) -> None:
    log = MemoryPredictionSink()
    _labelled_window(session, log, T0_US, shift=0.6)
    policy = AlertPolicy(persistence=2, cooldown=timedelta(hours=6))

    def run(end: datetime) -> Any:
        return run_monitor(session, "churn", window=HOUR, end=end, log=log, policy=policy)

    first = run(START + HOUR)
    assert [c["kind"] for c in first.conditions] == ["model_drift"]
    assert first.alerts == []  # one window is not enough
    second = run(START + HOUR)
    assert [(a["state"], a["key"]) for a in second.alerts] == [("firing", "model_drift:1")]
    assert "monthly_spend" in second.alerts[0]["message"]
    assert run(START + HOUR).alerts == []  # still firing, within the cooldown: not sent again
    # a clean, labelled hour later: the condition is gone, the alert resolves
    _labelled_window(session, log, T0_US + 3_600_000_000, shift=0.0)
    later = run(START + 2 * HOUR)
    assert later.conditions == [] or later.conditions[0]["kind"] != "model_drift"
    assert [(a["state"], a["key"]) for a in later.alerts] == [("resolved", "model_drift:1")]
    with session.store.read() as conn:
        actions = [e.action for e in security.entries(conn) if "alert" in e.action]
    assert actions == ["monitoring.alert_firing", "monitoring.alert_resolved"]


def test_an_acknowledged_alert_sends_no_reminder_and_resolving_clears_it(
    session: Session,
) -> None:
    log = MemoryPredictionSink()
    _labelled_window(session, log, T0_US, shift=0.6)
    # no cooldown: a firing alert is sent again on every run, unless someone is on it
    policy = AlertPolicy(persistence=1, cooldown=timedelta(0))
    ops, viewer = Principal("ops", Role.OPERATOR), Principal("vic", Role.VIEWER)

    def run(end: datetime) -> list[tuple[str, str]]:
        done = run_monitor(session, "churn", window=HOUR, end=end, log=log, policy=policy)
        return [(a["state"], a["key"]) for a in done.alerts]

    assert run(START + HOUR) == [("firing", "model_drift:1")]
    assert run(START + HOUR) == [("firing", "model_drift:1")]  # the reminder
    with pytest.raises(PermissionDenied, match="alerts:acknowledge"):
        acknowledge_alert(session, viewer, "churn", "model_drift:1")
    with pytest.raises(NotFound, match="model_drift:9"):
        acknowledge_alert(session, ops, "churn", "model_drift:9")
    with pytest.raises(InputError, match="note"):
        acknowledge_alert(session, ops, "churn", "model_drift:1", note="x" * 2001)
    acked = acknowledge_alert(session, ops, "churn", "model_drift:1", note="checking the feed")
    assert (acked["acknowledged_by"], acked["acknowledge_note"]) == ("ops", "checking the feed")
    assert run(START + HOUR) == []  # someone is on it: no reminder
    with pytest.raises(Conflict, match="already acknowledged by ops"):
        acknowledge_alert(session, ops, "churn", "model_drift:1")
    _labelled_window(session, log, T0_US + 3_600_000_000, shift=0.0)
    assert run(START + 2 * HOUR) == [("resolved", "model_drift:1")]  # still resolves
    [state] = list_alerts(session, "churn")
    assert state["state"] == "resolved" and state["acknowledged_by"] is None
    with pytest.raises(Conflict, match="resolved, not firing"):
        acknowledge_alert(session, ops, "churn", "model_drift:1")
    with session.store.read() as conn:
        [entry] = list(security.entries(conn, action="monitoring.alert_acknowledged"))
    assert entry.actor == "ops" and entry.payload == {
        "key": "model_drift:1",
        "note": "checking the feed",
    }


def test_a_kpi_moving_the_wrong_way_is_evidence_without_labels(
    sqlite_workspace: Workspace,
) -> None:
    """Drift on an important feature, no labels yet, conversion down 20%: model drift."""
    (sqlite_workspace.root / "modelward.toml").write_text(
        '[monitoring]\nkpis = {conversion = "up", complaints = "down"}\npersistence = 1\n'
    )
    ws = Workspace.open(sqlite_workspace.root, environ={"MODELWARD_IDENTITY__USER": "t"})
    with Session(ws) as session:
        save_profile(
            session, "churn", 1, build_profile(training_rows(3_000), model=Model()), actor="t"
        )
        log = MemoryPredictionSink()
        log.write(logged(1_000, spend_shift=0.6))
        hours = [
            START - timedelta(hours=h) + timedelta(minutes=m)
            for h in range(7, 0, -1)
            for m in (0, 30)
        ]
        events = [{"name": "conversion", "at": t.isoformat(), "value": 0.10} for t in hours]
        events += [
            {"name": "conversion", "at": (START + timedelta(minutes=m)).isoformat(), "value": 0.08}
            for m in (0, 20, 40)
        ]
        first = ingest_kpis(session, DEV, "churn", events)
        assert (first.stored, ingest_kpis(session, DEV, "churn", events).duplicates) == (17, 17)
        with pytest.raises(InputError, match=r"kpis\[0\]\.name: 'revenue' is not a KPI"):
            ingest_kpis(session, DEV, "churn", [{"name": "revenue", "at": START, "value": 1}])
        result = run_monitor(session, "churn", window=HOUR, end=START + HOUR, log=log)
        by_name = {k["name"]: k for k in result.kpis}
        assert by_name["conversion"]["change"] == pytest.approx(-0.2)
        assert by_name["conversion"]["wrong_way"] is True
        assert by_name["complaints"]["change"] is None  # no events: unknown, not "fine"
        assert [(a["key"], a["state"]) for a in result.alerts] == [("model_drift:1", "firing")]
        assert "conversion -20.0% (good: up)" in result.alerts[0]["message"]


@pytest.mark.parametrize(
    ("refused", "answered", "fires"),
    [
        (20, 380, True),  # 5% of 400, and 20 of them: the edge of both rules
        (19, 0, False),  # every request refused, but too few to say the source broke
        (20, 381, False),  # 20 of 401: just under 5%
        (500, 0, True),  # nothing reached the model at all
    ],
)
def test_a_spike_of_refused_requests_is_a_pipeline_incident_at_once(
    refused: int, answered: int, fires: bool
) -> None:
    version = {
        "version": "3",
        "rows": answered,
        "drift": None,  # nothing else to judge: no reference, no labels
        "refused": refused,
        "refused_fields": {"tenure_months": refused, "plan": 2},
    }
    from modelward.monitoring.alerts import conditions_of

    found, _ = conditions_of([version], {}, {}, AlertPolicy())
    if not fires:
        assert found == []
        return
    (incident,) = found
    assert (incident.key, incident.features, incident.persistence) == (
        "data_pipeline_incident:3",
        ["tenure_months", "plan"],  # the field named most often first
        1,
    )
    share = refused / (refused + answered)
    assert incident.message == (
        f"data pipeline incident: {refused} of {refused + answered} requests ({share:.0%}) "
        f"refused by the gateway's validation, on tenure_months ({refused}), plan (2): "
        "check the upstream source before retraining"
    )

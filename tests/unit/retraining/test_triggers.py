"""Triggers: each kind at its edge, with the key that links a trigger seen again to its
episode (the same decay, the same firing alert, the same tick, the same new snapshot)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelward.retraining import Evidence, RetrainPolicy
from modelward.retraining.triggers import detect, manual

NOW = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)
BASE = {"name": "churn-retrain", "endpoint": "churn", "model": "churn", "pipeline": "churn"}


def policy(**triggers: Any) -> RetrainPolicy:
    return RetrainPolicy.model_validate({**BASE, "triggers": triggers})


def evidence(auc: float | None = None, ece: float | None = None, **kw: Any) -> Evidence:
    perf = {"auc": auc, "ece": ece}
    fields: dict[str, Any] = {
        "now": NOW,
        "serving": "churn@3",
        "held_out": {"roc_auc": 0.85, "ece": 0.04},
        "runs": [{"versions": [{"version": "3", "performance": perf}]}],
    }
    return Evidence(**(fields | kw))


def test_an_auc_fall_of_exactly_the_limit_triggers_and_less_does_not() -> None:
    # figures exact in binary, so "exactly the limit" is exact: 0.75 - 0.5 == 0.25
    held_out = {"roc_auc": 0.75, "ece": 0.04}
    (found,) = detect(policy(max_auc_drop=0.25), evidence(auc=0.5, held_out=held_out))
    assert (found.kind, found.key) == ("performance", "performance:churn@3")
    assert found.reason == "churn@3: realised AUC 0.500 against 0.750 held out (limit 0.25)"
    assert found.to_dict()["held_out_auc"] == 0.75
    assert detect(policy(max_auc_drop=0.25), evidence(auc=0.5001, held_out=held_out)) == []


@pytest.mark.parametrize(
    ("held_out", "realised", "limit"), [(0.85, 0.80, 0.05), (0.9, 0.8, 0.1), (0.7, 0.6, 0.1)]
)
def test_a_fall_the_decimals_say_equals_the_limit_triggers(
    held_out: float, realised: float, limit: float
) -> None:
    """0.85 - 0.80 is 0.04999999999999993 in binary: a policy's 0.05 still means it."""
    assert held_out - realised < limit  # the float arithmetic the trigger must see past
    base = {"roc_auc": held_out, "ece": 0.04}
    (found,) = detect(policy(max_auc_drop=limit), evidence(auc=realised, held_out=base))
    assert found.kind == "performance"
    assert detect(policy(max_auc_drop=limit), evidence(auc=realised + 1e-4, held_out=base)) == []


def test_a_calibration_rise_the_decimals_say_equals_the_limit_triggers() -> None:
    assert 0.35 - 0.32 < 0.03  # the default limit
    base = {"roc_auc": 0.85, "ece": 0.32}
    (found,) = detect(policy(), evidence(auc=0.85, ece=0.35, held_out=base))
    assert found.key == "calibration:churn@3"


def test_with_the_auc_holding_a_calibration_rise_is_its_own_trigger() -> None:
    (found,) = detect(policy(), evidence(auc=0.85, ece=0.07))  # rise of 0.03: the default limit
    assert found.key == "calibration:churn@3" and found.evidence["measure"] == "ece"
    assert detect(policy(), evidence(auc=0.85, ece=0.06)) == []


def test_a_figure_of_another_version_or_none_at_all_triggers_nothing() -> None:
    assert detect(policy(), evidence(auc=None)) == []
    other = evidence(runs=[{"versions": [{"version": "2", "performance": {"auc": 0.5}}]}])
    assert detect(policy(), other) == []
    assert detect(policy(), evidence(auc=0.5, serving=None)) == []


def test_only_firing_drift_and_incident_alerts_trigger_keyed_by_when_they_fired() -> None:
    fired = NOW - timedelta(hours=2)
    alerts = [
        {"key": "model_drift:3", "state": "firing", "message": "drift", "fired_at": fired},
        {"key": "data_pipeline_incident:3", "state": "firing", "message": "x", "fired_at": fired},
        {"key": "model_drift:2", "state": "resolved", "message": "old", "fired_at": fired},
        {"key": "latency:3", "state": "firing", "message": "slow", "fired_at": fired},
    ]
    found = detect(policy(performance=False), evidence(alerts=alerts))
    assert [t.key for t in found] == [
        f"drift:model_drift:3:{fired.isoformat()}",
        f"drift:data_pipeline_incident:3:{fired.isoformat()}",
    ]
    assert detect(policy(performance=False, drift_alerts=False), evidence(alerts=alerts)) == []


def test_a_schedule_triggers_once_per_tick() -> None:
    (found,) = detect(policy(performance=False, schedule="0 3 * * *"), evidence())
    assert found.key == "schedule:2026-06-10T03:00:00+00:00"
    later = detect(
        policy(performance=False, schedule="0 3 * * *"), evidence(now=NOW + timedelta(hours=5))
    )
    assert later[0].key == found.key  # the same tick: the same episode


@pytest.mark.parametrize(
    ("trained", "newest", "fires"), [(3, 4, True), (4, 4, False), (5, 4, False)]
)
def test_a_newer_upstream_snapshot_triggers_and_names_a_schema_change(
    trained: int, newest: int, fires: bool
) -> None:
    ev = evidence(datasets={"customers": (trained, newest)}, schema_changed=["customers"])
    found = detect(policy(performance=False, upstream=["customers"]), ev)
    assert bool(found) is fires
    if fires:
        assert found[0].key == "upstream:customers@4"
        assert "snapshot 4 with a schema change is newer than 3" in found[0].reason


def test_a_manual_trigger_is_its_own_episode_and_names_who() -> None:
    found = manual("pricing changed", "ada", NOW)
    assert found.to_dict() == {
        "kind": "manual",
        "key": f"manual:{NOW.isoformat()}",
        "reason": "pricing changed",
        "by": "ada",
    }

"""The checks judge each scenario of the seed before any work: retrain, recalibrate, wait or
block."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelward.retraining import Evidence, RetrainPolicy, detect, judge

BASE = {"name": "churn-retrain", "endpoint": "churn", "model": "churn", "pipeline": "churn"}


NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)


POLICY = RetrainPolicy.model_validate(
    {
        **BASE,
        "checks": {"persistence": 2, "min_label_coverage": 0.3},
        "triggers": {"upstream": ["customers"]},
        "seasons": [{"name": "summer-sale", "start": "07-01", "end": "07-31"}],
    }
)


def run(
    auc: float | None, coverage: float = 0.6, ece: float = 0.04, version: str = "3", **extra: Any
) -> dict:
    """One monitor run's result with the serving version's realised figures."""
    performance = {"auc": auc, "coverage": coverage, "ece": ece}
    return {"versions": [{"version": version, "performance": performance}], **extra}


def evidence(*runs: dict, **kw: Any) -> Evidence:
    fields: dict[str, Any] = {
        "now": NOW,
        "serving": "churn@3",
        "held_out": {"roc_auc": 0.85, "ece": 0.04},
        "runs": list(runs),
    }
    return Evidence(**(fields | kw))


def decide(ev: Evidence) -> tuple[str, str, list[str]]:
    triggers = detect(POLICY, ev)
    assert triggers, "a trigger was expected"
    j = judge(POLICY, triggers[0], ev)
    return j.decision, triggers[0].key, [c.name for c in j.checks if not c.passed]


def test_real_concept_drift_is_retrained() -> None:
    # the label relationship changed: AUC fell in both windows, labels are in
    assert decide(evidence(run(0.70), run(0.72))) == ("retrain", "performance:churn@3", [])


def test_a_transient_bad_data_spike_blocks_retraining() -> None:
    incident = {"kind": "data_pipeline_incident", "message": "data pipeline incident: tickets"}
    ev = evidence(run(0.70, conditions=[incident]), run(0.71))
    decision, _, failed = decide(ev)
    assert (decision, failed) == ("block", ["pipeline"])


def test_calibration_drift_only_is_recalibrated_not_retrained() -> None:
    ev = evidence(run(0.847, ece=0.11), run(0.85, ece=0.10))
    decision, key, failed = decide(ev)
    assert (decision, key, failed) == ("recalibrate", "calibration:churn@3", [])


def test_delayed_labels_wait_with_the_coverage_figure() -> None:
    ev = evidence(run(0.70, coverage=0.05), run(0.70))
    j = judge(POLICY, detect(POLICY, ev)[0], ev)
    assert j.decision == "wait"
    assert j.reason == "label coverage 5% < 30% (labels take about 24 h)"


def test_a_one_window_fall_is_not_yet_persistent() -> None:
    decision, _, failed = decide(evidence(run(0.70), run(0.84)))
    assert (decision, failed) == ("wait", ["persistent"])


def test_the_budget_and_the_kill_switch_stop_even_a_sound_trigger() -> None:
    assert decide(evidence(run(0.7), run(0.7), runs_today=2))[0] == "wait"
    assert decide(evidence(run(0.7), run(0.7), cpu_today_s=5 * 3600))[0] == "wait"
    paused = evidence(run(0.7), run(0.7), switched_off="kill switch off for every policy")
    assert decide(paused) == ("block", "performance:churn@3", ["switch"])


def test_drift_inside_a_declared_season_waits() -> None:
    alert = {
        "key": "model_drift:3",
        "state": "firing",
        "fired_at": NOW,
        "message": "model drift: spend",
    }
    july = evidence(run(0.84), run(0.84), alerts=[alert], now=datetime(2026, 7, 4, tzinfo=UTC))
    assert decide(july)[0] == "wait"
    june = evidence(run(0.84), run(0.84), alerts=[alert])
    assert decide(june)[0] == "retrain"


def test_a_newer_upstream_snapshot_is_a_trigger_that_skips_the_label_checks() -> None:
    ev = evidence(datasets={"customers": (4, 5)}, schema_changed=["customers"])
    triggers = detect(POLICY, ev)
    assert [t.key for t in triggers] == ["upstream:customers@5"]
    assert "with a schema change" in triggers[0].reason
    assert judge(POLICY, triggers[0], ev).decision == "retrain"
    assert detect(POLICY, evidence(datasets={"customers": (5, 5)})) == []

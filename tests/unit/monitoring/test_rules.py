"""Alert rules of your own: parsed at load, measured per version, fired like the built-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from modelward import security
from modelward.config import AlertRuleSettings, Workspace
from modelward.errors import ConfigError
from modelward.monitoring import AlertPolicy, build_profile, run_monitor, save_profile
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.monitoring.rules import rule_conditions, rule_metric
from modelward.session import Session
from tests.unit.monitoring.support import T0_US, logged, training_rows

START = datetime.fromtimestamp(T0_US / 1e6, UTC)
HOUR = timedelta(hours=1)

METRICS = st.sampled_from(
    [
        "rows",
        "error_rate",
        "degraded_rate",
        "drifted_features",
        "latency_ms.p95",
        "latency_ms.p99",
        "performance.auc",
        "performance.ece",
        "drift.monthly_spend.effect",
        "drift.plan.null_rate",
        "kpi.conversion.change",
        "kpi.conversion.value",
    ]
)
OPS = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
NUMBERS = st.floats(allow_nan=False, allow_infinity=False, width=32)


@given(METRICS, OPS, NUMBERS, st.sampled_from(["", " ", "  "]))
@example("latency_ms.p95", ">", 250.0, "")
@example("kpi.conversion.change", "<", -0.1, " ")
def test_every_well_formed_rule_parses_to_its_parts(
    metric: str, op: str, threshold: float, space: str
) -> None:
    when = f"{space}{metric}{space}{op}{space}{threshold!r}{space}"
    event(f"op {op}")
    rule = AlertRuleSettings(name="r", when=when)
    assert (rule.metric, rule.op) == (metric, op)
    assert rule.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("when", "says"),
    [
        ("latency_ms.p95 >", "expected '<metric> <op> <number>'"),
        ("latency_ms.p95 => 3", "expected '<metric> <op> <number>'"),
        ("latency_ms.p95 > abc", "expected '<metric> <op> <number>'"),
        ("latency_ms.p90 > 3", "unknown metric 'latency_ms.p90'"),
        ("drift.spend > 3", "unknown metric 'drift.spend'"),  # needs a leaf
        ("performance.auc.x < 1", "unknown metric"),
        ("cpu > 0.9", "unknown metric 'cpu'"),
    ],
)
def test_a_malformed_rule_is_refused_with_the_rule_it_broke(when: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        AlertRuleSettings(name="r", when=when)


def test_a_bad_rule_in_the_workspace_fails_when_the_settings_are_read(workspace_dir: Any) -> None:
    (workspace_dir / "modelward.toml").write_text(
        '[[monitoring.rules]]\nname = "slow"\nwhen = "latency_ms.p95 >> 250"\n'
    )
    with pytest.raises(ConfigError, match=r"monitoring\.rules\.0\.when: .*expected"):
        Workspace.open(workspace_dir, environ={"MODELWARD_IDENTITY__USER": "t"})


VERSION: dict[str, Any] = {
    "version": "3",
    "rows": 1200,
    "error_rate": 0.0,
    "degraded_rate": 0.25,
    "latency_ms": {"p50": 2.0, "p95": 300.0, "p99": 410.0},
    "performance": {"auc": None, "coverage": 0.4},
    "drift": {
        "features": [
            {"feature": "spend", "status": "drift", "effect": 0.41, "null_rate_window": 0.0},
            {"feature": "plan", "status": "stable", "effect": 0.01, "null_rate_window": 0.3},
        ]
    },
}
KPIS = [{"name": "conversion", "change": -0.2, "window_mean": 0.08}]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("rows", 1200.0),
        ("degraded_rate", 0.25),
        ("drifted_features", 1.0),
        ("latency_ms.p95", 300.0),
        ("performance.coverage", 0.4),
        ("performance.auc", None),  # no labels: unmeasured, not zero
        ("drift.spend.effect", 0.41),
        ("drift.plan.null_rate", 0.3),
        ("drift.tenure.effect", None),  # not in the window
        ("kpi.conversion.change", -0.2),
        ("kpi.conversion.value", 0.08),
        ("kpi.revenue.change", None),
    ],
)
def test_each_metric_reads_its_figure_of_the_run(metric: str, expected: float | None) -> None:
    version = None if metric.startswith("kpi.") else VERSION
    assert rule_metric(metric, version, KPIS) == expected


def _rule(name: str, when: str, **kw: Any) -> AlertRuleSettings:
    return AlertRuleSettings(name=name, when=when, **kw)


def test_rules_hold_at_their_threshold_edge_and_say_what_they_could_not_measure() -> None:
    rules = [
        _rule("slow", "latency_ms.p95 >= 300"),  # exactly at the edge: holds
        _rule("slower", "latency_ms.p95 > 300"),  # strictly above: does not
        _rule("auc", "performance.auc < 0.7"),  # unmeasured
        _rule("sales", "kpi.conversion.change <= -0.2", persistence=1),
        _rule("elsewhere", "rows > 0", endpoints=["fraud"]),
    ]
    found, notes = rule_conditions(rules, "churn", [VERSION], KPIS)
    assert [(c.key, c.persistence) for c in found] == [("rule:slow:3", None), ("rule:sales", 1)]
    assert found[0].message == "slow: latency_ms.p95 = 300 >= 300 (version 3)"
    assert notes == ["rule auc: performance.auc not measured for version 3"]


def test_a_rule_fires_after_its_own_persistence_and_resolves_audited(
    sqlite_workspace: Workspace,
) -> None:
    (sqlite_workspace.root / "modelward.toml").write_text(
        "[monitoring]\npersistence = 5\n"
        '[[monitoring.rules]]\nname = "slow"\nwhen = "latency_ms.p99 > 8"\npersistence = 2\n'
    )
    ws = Workspace.open(sqlite_workspace.root, environ={"MODELWARD_IDENTITY__USER": "t"})
    with Session(ws) as session:
        save_profile(session, "churn", 1, build_profile(training_rows(600)), actor="t")
        log = MemoryPredictionSink()
        log.write(logged(600))  # latency 2..11 ms: p99 about 11

        def run(end: datetime) -> Any:
            return run_monitor(
                session, "churn", window=HOUR, end=end, log=log, policy=AlertPolicy(persistence=5)
            )

        first = run(START + HOUR)
        assert [c["key"] for c in first.conditions] == ["rule:slow:1"]
        assert first.alerts == []  # the rule's own persistence (2), not the policy's 5
        second = run(START + HOUR)
        assert [(a["key"], a["state"]) for a in second.alerts] == [("rule:slow:1", "firing")]
        assert "latency_ms.p99 = 11 > 8" in second.alerts[0]["message"]
        # an hour with nothing logged: the version is gone from the window, the alert resolves
        third = run(START + 3 * HOUR)
        assert [(a["key"], a["state"]) for a in third.alerts] == [("rule:slow:1", "resolved")]
        with session.store.read() as conn:
            actions = [e.action for e in security.entries(conn) if "alert" in e.action]
        assert actions == ["monitoring.alert_firing", "monitoring.alert_resolved"]

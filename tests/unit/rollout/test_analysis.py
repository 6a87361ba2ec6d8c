"""The judge: bad candidates fail, good ones pass, small windows are inconclusive.

Traffic is seeded: each scenario is replayed over 20 seeds, and the counts asserted are
the false-rollback and detection rates docs/rollout.md states.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.monitoring import PredictionRecord
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.rollout import ArmSample, RolloutPolicy, TrafficPlan, arm_samples, judge
from modelward.rollout.analysis import holm, window_samples
from tests.unit.rollout.traffic import BAD, GOOD, Behaviour, serve

SEEDS = range(20)
POLICY = RolloutPolicy()  # the defaults: min_sample 500, alpha 0.01
# a 20 % step: a window of 3,000 requests gives the candidate its minimum sample (~600 rows)
PLAN = TrafficPlan.canary("churn@2", "churn@3", weight=20, release_id="rel-1")
WINDOW = 3_000


def _verdict(candidate: Behaviour, seed: int) -> tuple[str, dict[str, str]]:
    base, cand = arm_samples(serve(PLAN, WINDOW, seed=seed, candidate=candidate), "rel-1")
    assert cand.total >= POLICY.min_sample
    analysis = judge(base, cand, POLICY)
    return analysis.verdict, {m.metric: m.verdict for m in analysis.metrics}


def test_a_good_candidate_passes_in_20_seeded_repetitions() -> None:
    verdicts = [_verdict(GOOD, seed)[0] for seed in SEEDS]
    assert verdicts.count("fail") == 0  # the observed false-rollback rate: 0 / 20
    assert verdicts.count("pass") == 20


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_candidate_fails_within_one_window_of_the_minimum_sample(name: str) -> None:
    metric = {"inverted scores": "score", "+50 ms": "latency", "5% errors": "error_rate"}[name]
    for seed in SEEDS:
        verdict, per_metric = _verdict(BAD[name], seed)
        assert verdict == "fail", (name, seed, per_metric)
        assert per_metric[metric] == "fail", (name, seed, per_metric)


def test_too_few_rows_is_inconclusive_never_pass() -> None:
    rows = serve(PLAN, 400, seed=1, candidate=BAD["+50 ms"])
    analysis = judge(*arm_samples(rows, "rel-1"), POLICY)
    assert analysis.verdict == "inconclusive"
    assert {m.verdict for m in analysis.metrics} == {"inconclusive"}
    assert "need 500 each" in analysis.metrics[0].reason
    assert analysis.score == 0.0


def test_labels_and_kpis_are_unavailable_and_do_not_count_as_a_pass() -> None:
    policy = RolloutPolicy(
        metrics=[{"metric": "latency"}, {"metric": "realised_performance"}, {"metric": "kpi"}]
    )
    analysis = judge(*arm_samples(serve(PLAN, WINDOW, seed=3, candidate=GOOD), "rel-1"), policy)
    verdicts = {m.metric: m.verdict for m in analysis.metrics}
    assert verdicts == {
        "latency": "pass",
        "realised_performance": "unavailable",
        "kpi": "unavailable",
    }
    assert analysis.verdict == "pass" and analysis.score == 100.0
    only_labels = RolloutPolicy(metrics=[{"metric": "kpi"}])
    nothing = judge(*arm_samples(serve(PLAN, WINDOW, seed=3, candidate=GOOD), "rel-1"), only_labels)
    assert nothing.verdict == "inconclusive" and nothing.score is None


def test_a_tolerance_forgives_a_small_regression() -> None:
    slower = Behaviour(extra_ms=3.0)
    strict = RolloutPolicy(metrics=[{"metric": "latency", "tolerance": 0}])
    lenient = RolloutPolicy(metrics=[{"metric": "latency", "tolerance": 10}])
    rows = serve(PLAN, 5_000, seed=4, candidate=slower)
    assert judge(*arm_samples(rows, "rel-1"), strict).verdict == "fail"
    assert judge(*arm_samples(rows, "rel-1"), lenient).verdict == "pass"


def test_the_window_is_one_release_one_role_one_time_range() -> None:
    rows = serve(PLAN, 1_000, seed=5, candidate=GOOD, start_us=10)
    other = serve(
        TrafficPlan.canary("churn@2", "churn@4", weight=50, release_id="rel-0"),
        500,
        seed=6,
        candidate=GOOD,
    )
    base, cand = arm_samples([*other, *rows], "rel-1", since_us=510, until_us=1_010)
    assert base.total + cand.total == 500
    assert 0 < cand.total < base.total
    shadow = serve(
        TrafficPlan.shadow("churn@2", "churn@3", percent=100, release_id="s"),
        100,
        seed=7,
        candidate=GOOD,
    )
    base, mirror = arm_samples(shadow, "s", candidate_role="shadow")
    assert base.total == mirror.total == 100


def test_holm_adjusts_in_step_down_order() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_an_arm_reads_errors_fallbacks_and_numeric_scores() -> None:
    def rec(**kw: object) -> PredictionRecord:
        base = {"request_id": "r", "at_us": 0, "endpoint": "e", "model": "m", "model_version": "1",
                "inputs": {}, "prediction": 0.3, "latency_ms": 5.0, "degraded": False}  # fmt: skip
        return PredictionRecord(**{**base, **kw})  # type: ignore[arg-type]

    arm = ArmSample.of(
        [
            rec(),
            rec(prediction=[0.7]),
            rec(prediction={"label": "yes"}),
            rec(degraded=True, prediction=0.0),
            rec(error="Timeout", prediction=None),
        ]
    )
    assert (arm.total, arm.errors, arm.fallbacks) == (5, 1, 1)
    assert arm.scores == [0.3, 0.7]
    assert len(arm.latencies_ms) == 4
    assert arm.summary()["error_rate"] == 0.2


def test_a_window_of_the_log_gives_the_same_arms_as_its_records() -> None:
    """The controller judges from monitoring's Arrow window; it must see what the records say."""
    from modelward.monitoring import open_prediction_sink
    from modelward.monitoring.predictions import PredictionRecord
    from modelward.rollout.analysis import arm_samples, window_samples

    def record(i: int, **kw: object) -> PredictionRecord:
        base = PredictionRecord(
            f"r{i}", 1_000 + i, "churn", "churn", "1", {"x": i}, 0.1 * (i % 10), 2.0 + i, False
        )
        return base._replace(**{"release_id": "rel-1", **kw})  # type: ignore[arg-type]

    records = [record(i) for i in range(6)]
    records += [record(10 + i, role="candidate") for i in range(4)]
    records += [record(20, role="candidate", error="ModelError")]
    records += [record(21, role="candidate", degraded=True)]
    records += [record(22, release_id="other")]
    sink = open_prediction_sink({"type": "memory"}, Path("."))
    sink.write(records)
    from_records = arm_samples(records, "rel-1")
    from_window = window_samples(sink.read_window("churn"), "rel-1")
    assert from_window == from_records
    assert (from_window[1].total, from_window[1].errors, from_window[1].fallbacks) == (6, 1, 1)


TAIL_POLICY = RolloutPolicy(
    metrics=[{"metric": "latency"}, {"metric": "latency_p95"}, {"metric": "latency_p99"}]
)
#: 12 % of answers 100 ms slower: the median barely moves, the tail does
SLOW_TAIL = Behaviour(tail_share=0.12, tail_ms=100.0)


def test_a_slow_tail_fails_p95_and_p99_where_the_median_test_passes() -> None:
    for seed in range(5):
        rows = serve(PLAN, WINDOW, seed=seed, candidate=GOOD)
        assert judge(*arm_samples(rows, "rel-1"), TAIL_POLICY).verdict == "pass", seed
        slow = judge(
            *arm_samples(serve(PLAN, WINDOW, seed=seed, candidate=SLOW_TAIL), "rel-1"), TAIL_POLICY
        )
        per_metric = {m.metric: m for m in slow.metrics}
        assert per_metric["latency"].verdict == "pass", seed
        assert per_metric["latency_p95"].verdict == "fail", seed
        assert per_metric["latency_p99"].verdict == "fail", seed
        p95 = per_metric["latency_p95"]
        assert p95.candidate is not None and p95.baseline is not None
        assert p95.candidate - p95.baseline > 50  # the quantiles themselves are reported


def test_a_regression_in_one_segment_fails_segment_score_naming_the_segment() -> None:
    policy = RolloutPolicy(metrics=[{"metric": "segment_score", "segment": "plan"}])
    pro_only = Behaviour(inverted_plans=("pro",))
    rows = serve(PLAN, WINDOW, seed=8, candidate=pro_only)
    (metric,) = judge(*arm_samples(rows, "rel-1", segments=["plan"]), policy).metrics
    assert metric.verdict == "fail" and "plan = pro" in metric.reason
    by_value = {d["value"]: d["verdict"] for d in metric.details}
    assert by_value == {"basic": "pass", "enterprise": "pass", "pro": "fail"}
    assert metric.to_dict()["segment"] == "plan"
    good = serve(PLAN, WINDOW, seed=8, candidate=GOOD)
    assert judge(*arm_samples(good, "rel-1", segments=["plan"]), policy).verdict == "pass"
    # the window path (the controller's) sees the same segments
    sink = MemoryPredictionSink()
    sink.write(rows)
    from_window = window_samples(sink.read_window("churn"), "rel-1", segments=["plan"])
    assert from_window[1].segments == arm_samples(rows, "rel-1", segments=["plan"])[1].segments

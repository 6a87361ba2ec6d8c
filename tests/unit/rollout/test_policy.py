"""The rollout policy: defaults, and errors that name the field and the rule."""

from __future__ import annotations

import pytest

from modelward.errors import InputError
from modelward.rollout import KNOWN_METRICS, RolloutPolicy, parse_policy


def test_no_policy_means_the_documented_defaults() -> None:
    policy = parse_policy(None)
    assert policy == RolloutPolicy()
    assert policy.steps == [5.0, 25.0, 50.0, 100.0]
    assert [m.metric for m in policy.metrics] == [
        "error_rate",
        "fallback_rate",
        "latency",
        "score",
    ]
    assert policy.metrics[2].allowed == 5.0


def test_a_full_policy_is_read_as_written() -> None:
    policy = parse_policy(
        {
            "steps": [10, 100],
            "interval_s": 30,
            "min_sample": 50,
            "alpha": 0.05,
            "metrics": [{"metric": "latency", "tolerance": 20}, {"metric": "kpi"}],
            "on_deadline": "hold",
            "sticky_by": "customer_id",
        }
    )
    assert policy.steps == [10.0, 100.0]
    assert policy.metrics[0].allowed == 20
    assert policy.on_deadline == "hold"
    assert policy.sticky_by == "customer_id"


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        (
            {"metrics": [{"metric": "latncy"}]},
            "policy.metrics.0.metric",
            "'latncy' is not a metric",
        ),
        ({"steps": [5, 50, 40]}, "policy.steps", "step 2: 40.0 is not above the step before it"),
        ({"steps": [5, 150]}, "policy.steps", "step 1: 150.0 is outside 0"),
        ({"steps": [0, 50]}, "policy.steps", "step 0: 0.0 is outside 0"),
        ({"steps": []}, "policy.steps", "at least 1"),
        ({"alpha": 0.7}, "policy.alpha", "less than 0.5"),
        ({"min_sample": 3}, "policy.min_sample", "greater than or equal to 10"),
        ({"on_deadline": "panic"}, "policy.on_deadline", "'rollback', 'hold' or 'advance'"),
        ({"metrics": [{"metric": "score"}, {"metric": "score"}]}, "policy.metrics", "twice"),
        (
            {"metrics": [{"metric": "latency", "tolerance": -1}]},
            "policy.metrics.0.tolerance",
            "greater than or equal to 0",
        ),
        ({"stepz": [5]}, "policy.stepz", "Extra inputs"),
    ],
)
def test_a_bad_policy_names_the_field_and_the_rule(
    data: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_policy(data)
    assert caught.value.details["field"] == field
    assert rule in caught.value.message
    assert caught.value.to_problem()["status"] == 422


def test_the_error_for_an_unknown_metric_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as caught:
        parse_policy({"metrics": [{"metric": "auc"}]})
    assert all(name in caught.value.message for name in KNOWN_METRICS)


def test_a_policy_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(InputError, match="expected a mapping"):
        parse_policy([5, 25])


def test_segment_score_needs_its_segment_and_only_it_takes_one() -> None:
    with pytest.raises(InputError, match="segment_score needs segment"):
        parse_policy({"metrics": [{"metric": "segment_score"}]})
    with pytest.raises(InputError, match="only segment_score takes one"):
        parse_policy({"metrics": [{"metric": "latency", "segment": "plan"}]})
    two = parse_policy(
        {
            "metrics": [
                {"metric": "segment_score", "segment": "plan"},
                {"metric": "segment_score", "segment": "region"},
            ]
        }
    )
    assert two.segment_fields == ("plan", "region")

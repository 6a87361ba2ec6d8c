"""Retraining policies as a user writes them: none can promote or skip a gate, and a malformed
one names its field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelward.errors import ConfigError
from modelward.retraining import load_policies
from modelward.retraining.policies import Season

BASE = {"name": "churn-retrain", "endpoint": "churn", "model": "churn", "pipeline": "churn"}


@pytest.mark.parametrize("key", ["promote", "auto_promote", "stage", "skip_gates", "target_stage"])
def test_a_policy_cannot_be_configured_to_promote_or_skip_a_gate(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"retraining.policies\[0\]: {key}: .*cannot promote"):
        load_policies([{**BASE, key: True}])


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"triggers": {"schedule": "0 3 * *"}}, r"policies\[0\]\.triggers\.schedule: .*5 fields"),
        ({"strategies": []}, r"policies\[0\]\.strategies"),
        ({"strategies": ["single"]}, r"policies\[0\]\.strategies\.0"),
        ({"seasons": [{"name": "x", "start": "13-01", "end": "01-01"}]}, r"seasons\.0\.start"),
        ({"window_days": 0}, r"policies\[0\]\.window_days"),
        ({"budget": {"max_runs": 1}}, r"policies\[0\]\.budget\.max_runs"),
        (
            {"rollout": {"steps": [10, 5]}},
            r"policies\[0\]\.rollout: invalid rollout policy: steps: step 1: 5.0 is not above",
        ),
        ({"rollout": {"min_sampel": 10}}, r"policies\[0\]\.rollout: .*min_sampel"),
    ],
)
def test_a_malformed_policy_names_its_field(change: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_policies([{**BASE, **change}])


def test_two_policies_cannot_share_a_name() -> None:
    with pytest.raises(ConfigError, match="used twice"):
        load_policies([BASE, BASE])


def test_a_season_may_wrap_the_new_year() -> None:
    winter = Season(name="holidays", start="12-15", end="01-05")
    assert winter.contains(datetime(2026, 12, 31, tzinfo=UTC))
    assert winter.contains(datetime(2027, 1, 5, tzinfo=UTC))  # the last day is inside
    assert not winter.contains(datetime(2027, 1, 6, tzinfo=UTC))

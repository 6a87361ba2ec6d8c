"""Durations as people read them: seconds below a minute, then d/h/m/s, pasteable back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelward.durations import show_duration


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0s"),
        (0.354, "0.35s"),
        (12.4, "12.4s"),
        (59.994, "59.99s"),
        # rounds to a minute: shown in minutes, not as "60s"
        (59.996, "1m"),
        (60, "1m"),
        (65, "1m5s"),
        (3_600 * 2 + 180, "2h3m"),
        (timedelta(days=10, seconds=1), "10d1s"),
        (timedelta(days=1), "1d"),
    ],
)
def test_a_duration_is_shown_in_the_largest_units_with_zero_parts_left_out(
    value: float | timedelta, shown: str
) -> None:
    assert show_duration(value) == shown


def test_none_is_a_dash_and_a_negative_duration_keeps_its_sign() -> None:
    assert show_duration(None) == "-"
    assert show_duration(-65) == "-1m5s"
    assert show_duration(-0.5) == "-0.5s"

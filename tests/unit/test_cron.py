"""Cron expressions shared by pipeline schedules and monitor runs: refused with the field
and the rule, and the latest tick at or before a moment, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from modelward.cron import check_cron, latest_tick
from modelward.errors import InputError


def test_an_expression_is_normalised_to_single_spaces() -> None:
    assert check_cron("  0   3 * *  1 ") == "0 3 * * 1"


@pytest.mark.parametrize(("expression", "count"), [("", 0), ("* * * *", 4), ("0 0 * * * *", 6)])
def test_a_wrong_number_of_fields_names_the_five_fields_and_the_count(
    expression: str, count: int
) -> None:
    with pytest.raises(InputError) as info:
        check_cron(expression)
    assert info.value.details["field"] == "cron"
    assert "a cron expression has 5 fields" in info.value.message
    assert f"got {count}" in info.value.message


@pytest.mark.parametrize("expression", ["61 * * * *", "* 25 * * *", "* * * foo *"])
def test_a_field_out_of_range_is_refused_naming_the_expression(expression: str) -> None:
    with pytest.raises(InputError, match="not a valid cron expression") as info:
        check_cron(expression)
    assert repr(expression) in info.value.message
    assert info.value.details["field"] == "cron"


def test_the_latest_tick_is_now_itself_when_now_is_a_tick_to_the_minute() -> None:
    now = datetime(2026, 6, 10, 3, 0, 41, 5, tzinfo=UTC)
    assert latest_tick("0 3 * * *", now) == datetime(2026, 6, 10, 3, 0, tzinfo=UTC)


def test_the_latest_tick_before_now_is_the_previous_one() -> None:
    now = datetime(2026, 6, 10, 2, 59, tzinfo=UTC)
    assert latest_tick("0 3 * * *", now) == datetime(2026, 6, 9, 3, 0, tzinfo=UTC)


def test_a_moment_in_another_zone_is_read_in_utc() -> None:
    # 05:30 at +02:00 is 03:30 UTC: the 03:00 UTC tick, not 05:00
    now = datetime(2026, 6, 10, 5, 30, tzinfo=timezone(timedelta(hours=2)))
    tick = latest_tick("0 * * * *", now)
    assert tick == datetime(2026, 6, 10, 3, 0, tzinfo=UTC)
    assert tick.utcoffset() == timedelta(0)

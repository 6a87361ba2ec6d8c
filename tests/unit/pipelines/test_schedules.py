"""Cron expressions: refused clearly when invalid; ticks computed in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.pipelines.schedules import check_cron, latest_tick


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 3 * *", "has 5 fields"),
        ("", "has 5 fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("0 25 * * *", "not a valid cron expression"),
        ("every day", "has 5 fields"),
        ("* * * * mon-xyz", "not a valid cron expression"),
    ],
)
def test_invalid_cron_is_refused_naming_the_expression(expression: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        check_cron(expression)
    assert repr(expression) in str(info.value)


def test_valid_cron_is_normalised() -> None:
    assert check_cron(" 0  3 * * * ") == "0 3 * * *"


def test_latest_tick_is_at_or_before_now() -> None:
    now = datetime(2026, 1, 2, 4, 30, tzinfo=UTC)
    assert latest_tick("0 3 * * *", now) == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    assert latest_tick("30 4 * * *", now) == now


@settings(deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(["*/5 * * * *", "0 3 * * *", "15 */2 * * 1-5", "0 0 1 * *"]),
)
def test_latest_tick_matches_and_nothing_later_is_due(now: datetime, expression: str) -> None:
    from croniter import croniter  # type: ignore[import-untyped]

    tick = latest_tick(expression, now)
    assert tick <= now
    assert croniter.match(expression, tick)
    # the next tick after it is in the future
    nxt = croniter(expression, tick).get_next(datetime)
    assert nxt > now - timedelta(seconds=now.second, microseconds=now.microsecond)

"""Five-field cron expressions (UTC): checked once, and the latest tick at or before now.

Shared by the pipeline schedules and the scheduled monitor runs, so both read a schedule
the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from modelward.errors import InputError

__all__ = ["check_cron", "latest_tick"]


def check_cron(expression: str) -> str:
    """The expression, normalised, if it is a valid five-field cron expression."""
    from croniter import croniter  # type: ignore[import-untyped]

    text = " ".join(expression.split())
    fields = text.split(" ") if text else []
    if len(fields) != 5:
        raise InputError(
            f"schedule {expression!r}: a cron expression has 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}",
            field="cron",
        )
    try:
        croniter(text)
    except (ValueError, KeyError) as exc:
        raise InputError(
            f"schedule {expression!r}: not a valid cron expression: {exc}", field="cron"
        ) from None
    return text


def latest_tick(expression: str, now: datetime) -> datetime:
    """The latest time at or before ``now`` (UTC) that the expression names."""
    from croniter import croniter

    base = now.astimezone(UTC)
    it = croniter(expression, base)
    if it.match(expression, base):
        return base.replace(second=0, microsecond=0)
    prev: datetime = it.get_prev(datetime)
    return prev.astimezone(UTC)

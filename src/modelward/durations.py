"""How a duration is shown to people, the same way everywhere: ``show_duration``.

``0.35s``, ``12.4s``, ``1m5s``, ``2h3m``, ``10d1s``: below a minute, seconds with up to two
decimals; from a minute on, whole days, hours, minutes and seconds, largest first, zero
parts left out. These are the units a contract's ``max_age`` is written in, so a shown
value can be pasted back. (Contracts keep their own canonical form,
``data.contracts.format_duration``, because their content hash is computed over it.)
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["show_duration"]

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def show_duration(value: float | timedelta | None) -> str:
    """Seconds (or a timedelta) as text; ``None`` is ``-``.

    >>> show_duration(0.354), show_duration(65), show_duration(timedelta(days=10, seconds=1))
    ('0.35s', '1m5s', '10d1s')
    """
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    if round(seconds, 2) < 60:
        text = f"{seconds:.2f}".rstrip("0").rstrip(".")
        return f"{sign}{text}s"
    whole = round(seconds)
    parts = []
    for unit, size in _UNITS:
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)

"""Charts drawn on the server as inline SVG: no script, no asset fetched at run time.

Each function returns the markup of one ``<svg>`` element (escaped, safe to embed with
Jinja's ``|safe``). They are small on purpose: a time series with a few lines and a bar
strip cover what the pages show (rates, latency percentiles, drift over monitor runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

__all__ = ["Series", "bars", "time_series"]

#: colours distinguishable for the common forms of colour blindness (Okabe-Ito)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")

_W, _H = 640, 200
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 28


@dataclass(frozen=True)
class Series:
    """One line: a name for the legend and (x, y) points; ``y`` None is a gap."""

    name: str
    points: Sequence[tuple[float, float | None]]


def _text(value: str) -> str:
    """Text for an SVG element: escaped, without control characters (invalid in XML)."""
    return escape("".join(c for c in value if c.isprintable()))


def _nice_max(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _time_label(x: float, span: float) -> str:
    at = datetime.fromtimestamp(x, UTC)
    return at.strftime("%H:%M" if span <= 2 * 86_400 else "%m-%d")


def time_series(
    title: str,
    series: Sequence[Series],
    *,
    unit: str = "",
    threshold: float | None = None,
) -> str:
    """Lines over time (x in epoch seconds); ``threshold`` draws a dashed limit line."""
    # the x range is every point's, gaps included, so charts of one window line up
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points if y is not None]
    head = (
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{_text(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_text(title)}</title>"
    )
    if not ys:
        return (
            f'{head}<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle" class="empty">'
            f"no data in this window</text></svg>"
        )
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 30, x1 + 30
    top = _nice_max(max([*ys, threshold or 0.0]))
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return _TOP + plot_h - max(0.0, min(y, top)) / top * plot_h

    parts = [head]
    for i in range(5):  # horizontal grid with labels
        value = top * i / 4
        y = py(value)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_label(value))}{escape(unit) if i == 4 else ''}</text>"
        )
    for i in range(5):
        x = x0 + (x1 - x0) * i / 4
        parts.append(
            f'<text class="tick" x="{px(x):.1f}" y="{_H - 8}" text-anchor="middle">'
            f"{escape(_time_label(x, x1 - x0))}</text>"
        )
    if threshold is not None:
        y = py(threshold)
        parts.append(
            f'<line class="limit" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for x, point in s.points:
            if point is None:
                runs.append([])
            else:
                runs[-1].append(f"{px(x):.1f},{py(point):.1f}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            elif run:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" '
                    f'points="{" ".join(run)}"/>'
                )
        parts.append(
            f'<rect x="{_LEFT + 8 + index * 110}" y="{_TOP}" width="10" height="10" '
            f'fill="{colour}"/><text class="legend" x="{_LEFT + 22 + index * 110}" '
            f'y="{_TOP + 9}">{_text(s.name[:16])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bars(title: str, values: Sequence[tuple[str, float]], *, unit: str = "") -> str:
    """Horizontal bars, one per label (durations of steps, a feature's drift score)."""
    height = 22 * max(len(values), 1) + 8
    head = (
        f'<svg class="chart bars" viewBox="0 0 {_W} {height}" role="img" '
        f'aria-label="{_text(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_text(title)}</title>"
    )
    if not values:
        return f'{head}<text x="8" y="18" class="empty">nothing to show</text></svg>'
    top = _nice_max(max(v for _, v in values))
    label_w, bar_w = 180, _W - 180 - 90
    parts = [head]
    for i, (label, value) in enumerate(values):
        y = 4 + i * 22
        width = max(0.0, value) / top * bar_w
        parts.append(
            f'<text class="tick" x="{label_w - 6}" y="{y + 14}" text-anchor="end">'
            f"{_text(label[:28])}</text>"
            f'<rect x="{label_w}" y="{y + 2}" width="{width:.1f}" height="16" '
            f'fill="{PALETTE[0]}"/>'
            f'<text class="tick" x="{label_w + width + 4:.1f}" y="{y + 14}">'
            f"{escape(_label(value))}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)

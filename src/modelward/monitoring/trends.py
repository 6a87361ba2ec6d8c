"""Realised performance over time: AUC and calibration (ECE) per segment across stored runs.

One run says how a version did in one window; a segment going bad shows as a line that
falls run after run while the others hold. :func:`performance_trends` gathers, from the
stored runs of an endpoint (oldest first), each version's overall AUC and ECE and those of
every segment value the runs broke performance down by (``segments=`` of the run, e.g.
``plan``); :func:`trends_html` draws them as inline SVG line charts, one per segment field
and figure, for the monitor report. A window without labels for a segment leaves a gap in
its line, not a zero.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

__all__ = ["FIGURES", "performance_trends", "trends_html"]

#: the figures drawn over time, with what a reader should know about their direction
FIGURES = {"auc": "AUC (higher is better)", "ece": "ECE (lower is better)"}
#: lines per chart at most (segment values times versions): a legend stays readable
_MAX_LINES = 12
_W, _H, _PAD = 420, 180, 36
_COLOURS = ["#1f6feb", "#d9480f", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#e03131"]

Point = dict[str, Any]


def _point(run: dict[str, Any], version: str, value: Any) -> Point | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return {"at": run["window_end"], "run": run["id"], "version": version, "value": float(value)}


def performance_trends(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """AUC and ECE over ``runs`` (stored results, any order): overall and per segment.

    ``{"runs": n, "overall": {figure: {version: [point]}}, "segments": {field: {value:
    {figure: {version: [point]}}}}}``, each point ``{"at", "run", "version", "value"}``
    in window order.
    """
    ordered = sorted(runs, key=lambda r: r["window_end"])
    overall: dict[str, dict[str, list[Point]]] = {f: {} for f in FIGURES}
    segments: dict[str, dict[str, dict[str, dict[str, list[Point]]]]] = {}
    for run in ordered:
        for v in run.get("versions", []):
            version = str(v.get("version", ""))
            perf = v.get("performance") or {}
            for figure in FIGURES:
                found = _point(run, version, perf.get(figure))
                if found is not None:
                    overall[figure].setdefault(version, []).append(found)
            for name, values in (perf.get("segments") or {}).items():
                for value, figures in values.items():
                    lines = segments.setdefault(name, {}).setdefault(str(value), {})
                    for figure in FIGURES:
                        found = _point(run, version, (figures or {}).get(figure))
                        if found is not None:
                            lines.setdefault(figure, {}).setdefault(version, []).append(found)
    return {"runs": len(ordered), "overall": overall, "segments": segments}


def _seconds(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()


def _lines_svg(title: str, lines: dict[str, list[Point]]) -> str:
    """One chart: a polyline per label over the windows' ends (a dot where it has one)."""
    points = [p for line in lines.values() for p in line]
    if not points:
        return ""
    xs = [_seconds(p["at"]) for p in points]
    ys = [p["value"] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 <= x0:
        x0, x1 = x0 - 1.0, x1 + 1.0
    if y1 - y0 < 0.02:
        y0, y1 = y0 - 0.01, y1 + 0.01

    def x(at: str) -> float:
        return float(_PAD + (_seconds(at) - x0) / (x1 - x0) * (_W - 2 * _PAD))

    def y(value: float) -> float:
        return float(_H - _PAD / 2 - (value - y0) / (y1 - y0) * (_H - _PAD))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H + 16 * len(lines)}" '
        f'role="img" aria-label="{html.escape(title)}"><title>{html.escape(title)}</title>',
        f'<text x="{_PAD}" y="12" font-size="12" font-weight="bold">{html.escape(title)}</text>',
        f'<text x="2" y="{y(y1) + 4:.1f}" font-size="10">{y1:.3g}</text>',
        f'<text x="2" y="{y(y0) + 4:.1f}" font-size="10">{y0:.3g}</text>',
        f'<line x1="{_PAD}" y1="{y(y0):.1f}" x2="{_W - _PAD}" y2="{y(y0):.1f}" stroke="#999"/>',
    ]
    for i, (label, line) in enumerate(lines.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        coords = " ".join(f"{x(p['at']):.1f},{y(p['value']):.1f}" for p in line)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        out.extend(
            f'<circle cx="{x(p["at"]):.1f}" cy="{y(p["value"]):.1f}" r="2.5" fill="{colour}">'
            f"<title>{html.escape(label)} {p['value']:.3f} at {html.escape(p['at'])}</title>"
            "</circle>"
            for p in line
        )
        out.append(
            f'<text x="{_PAD}" y="{_H + 12 + 16 * i}" font-size="11" fill="{colour}">'
            f"{html.escape(label)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _labelled(by_value: dict[str, dict[str, dict[str, list[Point]]]], figure: str) -> Any:
    lines: dict[str, list[Point]] = {}
    for value, figures in sorted(by_value.items()):
        for version, line in sorted(figures.get(figure, {}).items()):
            lines[f"{value} (v{version})"] = line
    return dict(list(lines.items())[:_MAX_LINES])


def trends_html(trends: dict[str, Any]) -> str:
    """The report's "performance over time" section for :func:`performance_trends`."""
    overall = trends["overall"]
    if not any(overall[f] for f in FIGURES) and not trends["segments"]:
        return (
            f"<p>no labelled performance in the last {trends['runs']} runs: ingest labels "
            "(<code>modelward labels ingest</code>) to draw it</p>"
        )
    charts = [
        _lines_svg(
            f"overall {FIGURES[f]}", {f"v{version}": line for version, line in overall[f].items()}
        )
        for f in FIGURES
    ]
    out = [
        f"<p>over the last {trends['runs']} runs</p>",
        f'<div class="charts">{"".join(charts)}</div>',
    ]
    for name, by_value in sorted(trends["segments"].items()):
        out.append(f"<h3>by {html.escape(name)}</h3>")
        drawn = "".join(
            _lines_svg(f"{name}: {FIGURES[f]}", _labelled(by_value, f)) for f in FIGURES
        )
        out.append(f'<div class="charts">{drawn}</div>')
    return "".join(out)

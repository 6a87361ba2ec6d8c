"""The shadow disagreement report as a page people read: one HTML fragment, shown by the
dashboard inside its own layout, and wrapped into a self-contained file by
``modelward rollout shadow-report E --html out.html``.

The page says the overall disagreement and the cohort where it concentrates first, then
draws the disagreement rate of every cohort as bars beside the overall rate (inline SVG:
no script, no external asset, no inline style attribute, so it opens from a mail
attachment and passes the dashboard's Content-Security-Policy), then the inputs that
separate disagreeing from agreeing requests, and the top disagreeing requests with their
inputs. It renders the report's ``to_dict()``, the same data the JSON output carries.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from modelward.textfiles import write_text_replacing

__all__ = ["render_shadow_html", "shadow_report_fragment", "write_shadow_html"]

#: bar chart geometry: label column, bar column, one row per cohort
_LABEL_W, _BAR_W, _ROW_H = 190, 300, 18
_BAR, _SMALL, _OVERALL = "#d9480f", "#adb5bd", "#1f6feb"
_MAX_BARS = 24


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return _esc(value)


def _table(headers: list[str], rows: list[list[str]], caption: str | None = None) -> str:
    """A table of cells already escaped (headers are escaped here)."""
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def _cohort_label(name: str, cohort: dict[str, Any]) -> str:
    if "value" in cohort:
        return f"{name} = {cohort['value']}"
    return f"{cohort['lo']:.4g} ≤ {name} ≤ {cohort['hi']:.4g}"


def _bars(title: str, cohorts: list[tuple[str, dict[str, Any]]], overall: float | None) -> str:
    """Disagreement rate per cohort as horizontal bars, the overall rate as a line;
    cohorts too small to rank (fewer than MIN_COHORT pairs) are drawn grey."""
    from modelward.rollout.shadow import MIN_COHORT

    shown = cohorts[:_MAX_BARS]
    height = (len(shown) + 2) * _ROW_H + 8
    width = _LABEL_W + _BAR_W + 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="shadow-bars" width="{width}" '
        f'height="{height}" role="img" aria-label="{_esc(title)}"><title>{_esc(title)}</title>',
        f'<text x="0" y="13" font-size="12" font-weight="bold">{_esc(title)}</text>',
    ]
    for i, (label, c) in enumerate(shown):
        y = (i + 1) * _ROW_H + 4
        w = max(float(c["rate"]) * _BAR_W, 1.0)
        colour = _BAR if c["pairs"] >= MIN_COHORT else _SMALL
        parts.append(
            f'<text x="{_LABEL_W - 6}" y="{y + 12}" font-size="11" text-anchor="end">'
            f"{_esc(label[:32])}</text>"
            f'<rect x="{_LABEL_W}" y="{y + 2}" width="{w:.1f}" height="{_ROW_H - 5}" '
            f'fill="{colour}"><title>{_esc(label)}: {_rate(c["rate"])} of {c["pairs"]:,} '
            f"pairs</title></rect>"
            f'<text x="{_LABEL_W + w + 4:.1f}" y="{y + 12}" font-size="10">'
            f"{_rate(c['rate'])} ({c['pairs']:,})</text>"
        )
    if overall is not None:
        x = _LABEL_W + overall * _BAR_W
        bottom = (len(shown) + 1) * _ROW_H + 4
        parts.append(
            f'<line x1="{x:.1f}" y1="{_ROW_H}" x2="{x:.1f}" y2="{bottom}" stroke="{_OVERALL}" '
            f'stroke-dasharray="4 3"/><text x="{x:.1f}" y="{bottom + 12}" font-size="10" '
            f'fill="{_OVERALL}" text-anchor="middle">overall {_rate(overall)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _summary(data: dict[str, Any]) -> str:
    latency = data["latency_ms"]

    def both(q: str) -> str:
        return " / ".join(_num(latency.get(r, {}).get(q)) for r in ("primary", "shadow"))

    rows = [
        ["release", f"<code>{_esc(data['release'])}</code>"],
        ["baseline (answers)", _esc(data["baseline"])],
        ["candidate (shadow copy)", _esc(data["candidate"])],
        ["paired requests", f"{data['pairs']:,}"],
        [
            "disagreement",
            f"<b>{_rate(data['disagreement_rate'])}</b> ({data['disagreements']:,}), "
            f"deciding at score ≥ {_num(data['threshold'])}",
        ],
        ["mean |score difference|", _num(data["mean_abs_diff"])],
        ["candidate failures (errors, timeouts)", f"{data['shadow_failed']:,}"],
        ["copies without a primary row", f"{data['unpaired']:,}"],
        ["latency p50 primary / shadow (ms)", both("p50")],
        ["latency p95 primary / shadow (ms)", both("p95")],
        ["latency p99 primary / shadow (ms)", both("p99")],
    ]
    return _table(["", ""], [[_esc(k), v] for k, v in rows])


def shadow_report_fragment(data: dict[str, Any]) -> str:
    """The report's body (no ``<html>``, no ``<style>``): ``data`` is
    :meth:`ShadowReport.to_dict`. Every value from the log is escaped."""
    out = [_summary(data)]
    if not data["pairs"]:
        out.append(
            "<p>No mirrored request is paired yet: the report fills in as the candidate "
            "scores copies of live traffic.</p>"
        )
        return "".join(out)
    worst = data.get("worst_cohort")
    if worst is not None:
        out.append(
            f'<p class="finding">Disagreement concentrates where '
            f"<b>{_esc(_cohort_label(worst['field'], worst))}</b>: {_rate(worst['rate'])} of "
            f"{worst['pairs']:,} pairs, against {_rate(data['disagreement_rate'])} overall.</p>"
        )
    overall = data["disagreement_rate"]
    out.append("<h2>Disagreement by cohort</h2>")
    charts = [
        _bars(f"by {name}", [(_cohort_label(name, c), c) for c in cohorts], overall)
        for groups in (data["segments"], data["ranges"])
        for name, cohorts in groups.items()
    ]
    out.append(f'<div class="charts">{"".join(charts)}</div>')
    rows = [
        [
            _esc(name),
            _esc(_cohort_label(name, c)),
            f"{c['pairs']:,}",
            f"{c['disagreements']:,}",
            _rate(c["rate"]),
        ]
        for groups in (data["segments"], data["ranges"])
        for name, cohorts in groups.items()
        for c in cohorts
    ]
    out.append(_table(["input", "cohort", "pairs", "disagreeing", "rate"], rows))
    if data["top_features"]:
        out.append("<h2>Inputs that differ most between disagreeing and agreeing requests</h2>")
        out.append(
            _table(
                ["input", "measure", "distance", "p", "where it disagrees"],
                [
                    [
                        _esc(f["feature"]),
                        "Kolmogorov-Smirnov" if f["measure"] == "ks" else "total variation",
                        f"{f['distance']:.3f}",
                        _num(f["p_value"]),
                        (
                            f"mean {_num(f['disagreeing_mean'])} vs {_num(f['agreeing_mean'])}"
                            if f["measure"] == "ks"
                            else f"mostly {_esc(f['disagreeing_mode'])}"
                        ),
                    ]
                    for f in data["top_features"]
                ],
            )
        )
    if data["examples"]:
        out.append("<h2>Top disagreeing requests</h2>")
        out.append(
            _table(
                ["request", "primary", "shadow", "|difference|", "inputs"],
                [
                    [
                        f"<code>{_esc(e['request_id'])}</code>",
                        _num(e["primary"]),
                        _num(e["shadow"]),
                        _num(e["diff"]),
                        f"<code>{_esc(json.dumps(e['inputs'], default=str))}</code>",
                    ]
                    for e in data["examples"]
                ],
            )
        )
    return "".join(out)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
.charts svg { margin: 0 16px 16px 0; }
.finding { background: #fff4e6; border-left: 4px solid #d9480f; padding: 8px 12px; }
code { font-size: 12px; }
"""


def render_shadow_html(data: dict[str, Any]) -> str:
    """A self-contained page (one file, its style inline, no script) for ``data``."""
    title = f"Shadow {data['candidate']} vs {data['baseline']} on {data['endpoint']}"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_esc(title)}</h1>{shadow_report_fragment(data)}</body></html>\n"
    )


def write_shadow_html(data: dict[str, Any], path: Path) -> Path:
    """Write :func:`render_shadow_html` to ``path`` (a temporary name, then a rename, so a
    reader never sees half a page); returns the path."""
    return write_text_replacing(
        path, render_shadow_html(data), what="the shadow report", make_parent=True
    )

"""The monitor report: ``<endpoint>-monitor.json`` and a self-contained ``.html`` beside it.

The page shows the alerts the rule fired or resolved, the findings (drifted features
and data quality anomalies, most important feature first) and the endpoint's KPIs, then
per model version in the window: one chart per feature with the reference's distribution and the
window's overlaid (inline SVG, no script, no external asset: it opens from a mail
attachment), the drift verdict with its effect size and corrected p-value, data quality
(null rates, unseen categories, missing features), latency and error rates, and the
realised performance where labels have arrived; the gateway workers' CPU, memory and cost
per 1,000 predictions; and AUC and ECE per segment across the endpoint's stored runs
(:mod:`~modelward.monitoring.trends`). Numeric distributions are drawn from the
two quantile sketches on shared bins, so the page needs neither the training set nor the
raw window. Both files are written to temporary names and renamed into place.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelward.errors import StorageError
from modelward.monitoring.history import list_runs
from modelward.monitoring.profiles import NumericProfile, ReferenceProfile
from modelward.monitoring.references import find_profile
from modelward.monitoring.runs import get_run, latest_run
from modelward.monitoring.trends import performance_trends, trends_html
from modelward.textfiles import write_text_replacing

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["render_monitor_html", "write_monitor_report"]

_W, _H, _PAD = 280, 150, 28
_REF, _WIN = "#1f6feb", "#d9480f"
_BINS = 24
#: stored runs the "performance over time" charts reach back
_TREND_RUNS = 48


def _numeric_bars(reference: list[float], window: list[float]) -> tuple[list[str], Any, Any]:
    both = np.concatenate([reference, window])
    low, high = float(np.min(both)), float(np.max(both))
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, _BINS + 1)
    # each sketch point carries 1/len of the mass, so a histogram of the points is the
    # distribution's histogram at the sketch's resolution
    ref = np.histogram(reference, edges)[0] / max(len(reference), 1)
    win = np.histogram(window, edges)[0] / max(len(window), 1)
    labels = [f"{edges[0]:.3g}", f"{edges[-1]:.3g}"]
    return labels, ref, win


def _svg(title: str, names: list[str], ref: Any, win: Any, *, numeric: bool) -> str:
    count = len(ref)
    top = max(float(np.max(ref, initial=0)), float(np.max(win, initial=0)), 1e-9)
    slot = (_W - 2 * _PAD) / max(count, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H + 30}" role="img" '
        f'aria-label="{html.escape(title)}"><title>{html.escape(title)}</title>',
        f'<text x="{_PAD}" y="12" font-size="12" font-weight="bold">{html.escape(title)}</text>',
    ]
    base = _H - _PAD + 20
    for i in range(count):
        x = _PAD + i * slot
        for j, (values, colour) in enumerate(((ref, _REF), (win, _WIN))):
            h = float(values[i]) / top * (_H - 2 * _PAD)
            width = slot if numeric else slot / 2
            offset = 0 if numeric else j * slot / 2
            opacity = "0.45" if numeric else "0.85"
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{base - h:.1f}" width="{max(width - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{colour}" fill-opacity="{opacity}"/>'
            )
    if numeric:
        parts.append(f'<text x="{_PAD}" y="{base + 12}" font-size="10">{names[0]}</text>')
        parts.append(
            f'<text x="{_W - _PAD}" y="{base + 12}" font-size="10" text-anchor="end">'
            f"{names[1]}</text>"
        )
    else:
        for i, name in enumerate(names):
            parts.append(
                f'<text x="{_PAD + (i + 0.5) * slot:.1f}" y="{base + 12}" font-size="10" '
                f'text-anchor="middle">{html.escape(name[:12])}</text>'
            )
    parts.append(
        f'<text x="{_PAD}" y="{base + 26}" font-size="10" fill="{_REF}">■ reference</text>'
        f'<text x="{_PAD + 80}" y="{base + 26}" font-size="10" fill="{_WIN}">■ window</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _chart(feature: dict[str, Any], reference: ReferenceProfile | None) -> str:
    name = feature["feature"]
    profile = None
    if reference is not None:
        profile = reference.prediction if name == "prediction" else reference.features.get(name)
    if profile is None or feature["status"] in ("missing", "inconclusive"):
        return ""
    title = f"{name}: {feature['status']}"
    if isinstance(profile, NumericProfile):
        if not feature["window_quantiles"] or not profile.quantiles:
            return ""
        names, ref, win = _numeric_bars(profile.quantiles, feature["window_quantiles"])
        return _svg(title, names, ref, win, numeric=True)
    window = feature["window_frequencies"]
    categories = sorted(set(profile.frequencies) | set(window))[:12]
    ref = [profile.frequencies.get(c, 0.0) for c in categories]
    win = [window.get(c, 0.0) for c in categories]
    return _svg(title, categories, ref, win, numeric=False)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _version_html(v: dict[str, Any], reference: ReferenceProfile | None) -> str:
    title = f"{v['model']}@{v['version']}"
    out = [f"<h2>{html.escape(title)}: {v['rows']:,} predictions</h2>"]
    latency = v["latency_ms"]
    out.append(
        _table(
            ["errors", "degraded", "latency p50 ms", "p95 ms", "p99 ms"],
            [
                [
                    f"{v['error_rate']:.1%}",
                    f"{v['degraded_rate']:.1%}",
                    latency.get("p50"),
                    latency.get("p95"),
                    latency.get("p99"),
                ]
            ],
        )
    )
    if v["drift"] is None:
        out.append(
            f"<p><b>{html.escape(title)} has no reference profile</b>: drift and data quality "
            "cannot be judged (versions registered by a pipeline get one).</p>"
        )
    else:
        drift = v["drift"]
        features = [*drift["features"], *([drift["prediction"]] if drift["prediction"] else [])]
        if reference is not None:
            rank = {f: i for i, f in enumerate(reference.ranked_features())}
            features.sort(key=lambda f: rank.get(f["feature"], len(rank)))
        out.append("<h3>Drift</h3>")
        out.append(
            _table(
                ["feature", "importance", "status", "effect", "measure", "p (corrected)", "rows"],
                [
                    [
                        f["feature"],
                        (reference.importance.get(f["feature"]) if reference else None),
                        f["status"],
                        f["effect"],
                        f["effect_name"],
                        f["p_value"],
                        f["rows"],
                    ]
                    for f in features
                ],
            )
        )
        charts = "".join(_chart(f, reference) for f in features)
        out.append(f'<div class="charts">{charts}</div>')
        out.append("<h3>Data quality</h3>")
        out.append(
            _table(
                [
                    "feature",
                    "nulls (reference)",
                    "nulls (window)",
                    "unseen categories",
                    "anomalies",
                ],
                [
                    [
                        f["feature"],
                        f"{f['null_rate_reference']:.1%}",
                        f"{f['null_rate_window']:.1%}",
                        ", ".join(f"{k} {s:.1%}" for k, s in f["unseen_categories"].items()) or "-",
                        ", ".join(f["quality"]) or "-",
                    ]
                    for f in drift["features"]
                ],
            )
        )
    perf = v.get("performance") or {}
    out.append("<h3>Realised performance</h3>")
    if perf.get("labelled"):
        keys = ["labelled", "coverage", "median_delay_h", "auc", "accuracy", "brier", "ece"]
        out.append(_table(keys, [[perf.get(k) for k in keys]]))
        for name, values in (perf.get("segments") or {}).items():
            out.append(f"<h4>by {html.escape(name)}</h4>")
            out.append(
                _table(
                    [name, *keys],
                    [[value, *(p.get(k) for k in keys)] for value, p in sorted(values.items())],
                )
            )
    else:
        out.append("<p>no labels yet for these predictions</p>")
    return "".join(out)


def _system_html(system: dict[str, Any] | None) -> str:
    """The gateway workers' CPU, memory and cost in the window (``monitoring.usage``)."""
    if not system:
        return "<p>no gateway worker reported CPU and memory in this window</p>"
    cost = system.get("cost_per_1000")
    summary = _table(
        ["workers", "CPU mean (cores)", "CPU max", "memory max MiB", "predictions", "per 1,000"],
        [
            [
                system["workers"],
                system["cpu_mean"],
                system["cpu_max"],
                system["rss_mb_max"],
                system["predictions"],
                "-" if cost is None else f"{cost:.4g} at {system['cost_per_core_hour']:g}/core-h",
            ]
        ],
    )
    workers = _table(
        ["worker", "seconds", "CPU (cores)", "memory MiB", "predictions"],
        [
            [w["worker"], w["seconds"], w["cpu"], w["rss_mb"], w["predictions"]]
            for w in system.get("per_worker", [])
        ],
    )
    return summary + workers


def render_monitor_html(
    result: dict[str, Any],
    references: dict[str, ReferenceProfile],
    *,
    trends: dict[str, Any] | None = None,
) -> str:
    """The page for a stored run; ``references`` maps a version to its profile; ``trends``
    (:func:`~modelward.monitoring.trends.performance_trends` of the runs up to this one)
    adds AUC and ECE per segment over time."""
    alerts = result["alerts"]
    alert_html = (
        _table(
            ["alert", "state", "features", "message"],
            [[a["key"], a["state"], ", ".join(a["features"]), a["message"]] for a in alerts],
        )
        if alerts
        else "<p>none fired or resolved in this run</p>"
    )
    sent = {a["key"] for a in alerts}
    held = [c for c in result.get("conditions", []) if c["key"] not in sent]
    if held:
        alert_html += "<p>conditions held, not alerting (persistence or cooldown): "
        alert_html += "; ".join(html.escape(c["message"]) for c in held) + "</p>"
    if result.get("notes"):
        alert_html += "<p>rule notes: "
        alert_html += "; ".join(html.escape(n) for n in result["notes"]) + "</p>"
    if result.get("upstream"):
        alert_html += "<p>upstream of the features with a data quality anomaly: "
        alert_html += "; ".join(
            f"<b>{html.escape(f)}</b>: {html.escape(where)}"
            for f, where in sorted(result["upstream"].items())
        )
        alert_html += "</p>"
    findings = result.get("findings", [])
    finding_html = (
        _table(
            ["kind", "version", "feature", "importance", "message"],
            [
                [f["kind"], f["version"], f["feature"], f["importance"], f["message"]]
                for f in findings
            ],
        )
        if findings
        else "<p>none</p>"
    )
    kpis = result.get("kpis", [])
    kpi_html = (
        _table(
            ["kpi", "good direction", "window mean", "7 windows before", "change", "wrong way"],
            [
                [
                    k["name"],
                    k["good"],
                    k["window_mean"],
                    k["baseline_mean"],
                    "-" if k["change"] is None else f"{k['change']:+.1%}",
                    "yes" if k["wrong_way"] else "no",
                ]
                for k in kpis
            ],
        )
        if kpis
        else "<p>no KPI declared</p>"
    )
    system_html = _system_html(result.get("system"))
    trends_section = (
        "" if trends is None else f"<h2>Performance over time</h2>{trends_html(trends)}"
    )
    versions = (
        "".join(_version_html(v, references.get(v["version"])) for v in result["versions"])
        or "<p>no predictions in this window</p>"
    )
    name = html.escape(result["endpoint"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Monitor: {name}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.charts svg {{ margin: 0 12px 12px 0; }}
</style></head><body>
<h1>Monitor: {name}</h1>
<p>{result["rows"]:,} predictions from {html.escape(result["window_start"])} to
{html.escape(result["window_end"])} · run <code>{html.escape(result["id"])}</code></p>
<h2>Alerts</h2>{alert_html}
<h2>Findings</h2>{finding_html}
<h2>KPIs</h2>{kpi_html}
<h2>System</h2>{system_html}
{trends_section}
{versions}
</body></html>
"""


def _write(path: Path, text: str) -> None:
    write_text_replacing(path, text, what="the monitor report")


def write_monitor_report(
    session: Session, endpoint: str, *, folder: Path | None = None, run_id: str | None = None
) -> tuple[Path, Path]:
    """Write the latest (or ``run_id``'s) run of ``endpoint``; returns (html, json) paths."""
    result = get_run(session, run_id) if run_id else latest_run(session, endpoint)
    references = {}
    for v in result["versions"]:
        if v["reference"] == "present":
            found = find_profile(session, v["model"], int(v["version"]))
            if found is not None:
                references[v["version"]] = found
    target = folder or session.workspace.root / ".modelward" / "reports"
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"{target}: cannot create the report folder: {exc}") from None
    stem = f"{result['endpoint']}-monitor"
    json_path, html_path = target / f"{stem}.json", target / f"{stem}.html"
    # the runs up to this one (a report of an older run draws its own past, not later runs)
    history = [
        r
        for r in list_runs(session, result["endpoint"], limit=_TREND_RUNS)
        if r["window_end"] <= result["window_end"]
    ]
    trends = performance_trends(history)
    _write(json_path, json.dumps({**result, "trends": trends}, indent=2, default=str))
    _write(html_path, render_monitor_html(result, references, trends=trends))
    return html_path, json_path

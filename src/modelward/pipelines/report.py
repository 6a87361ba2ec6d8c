"""The evaluation report: ``evaluation.json`` and a self-contained ``evaluation.html``.

The page draws ROC, precision-recall and reliability curves as inline SVG (no plotting
library, no external assets), candidate against champion, with each chart's legend below
its plot so it never covers a curve; and tables of the acceptance checks, the gain over
the champion with its bootstrap confidence interval, the confusion matrices at the
decision threshold, the metrics overall and per segment, and the golden set. Counts are
integers; every gain is signed the same way (positive: the candidate is better). Once the
candidate is registered, :func:`name_candidate` names it by its version. Both files are
written to temporary names and renamed into place.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelward.pipelines.evaluation import Evaluation, GainInterval, GoldenSet, PolicyResult
from modelward.textfiles import write_text_replacing

__all__ = ["name_candidate", "report_dict", "write_report"]

_W, _H, _PAD = 300, 260, 36
_LEGEND_ROW = 16
#: metrics that are counts, shown as integers
_COUNTS = frozenset({"n", "tp", "fp", "fn", "tn", "count", "rows"})
_COLOURS = ("#1f6feb", "#d9480f")


def report_dict(
    candidate: Evaluation,
    champion: Evaluation | None,
    policy: PolicyResult,
    golden: GoldenSet | None = None,
    context: dict[str, Any] | None = None,
    gain: GainInterval | None = None,
) -> dict[str, Any]:
    return {
        "context": context or {},
        "candidate": candidate.to_dict(),
        "champion": champion.to_dict() if champion else None,
        "acceptance": policy.to_dict(),
        "gain": gain.to_dict() if gain else None,
        "golden_set": (
            {"hash": golden.hash, "row_count": len(golden.rows), **golden.to_dict()}
            if golden
            else None
        ),
    }


def _svg_chart(
    title: str,
    series: Sequence[tuple[str, list[float], list[float]]],
    x_label: str,
    y_label: str,
    diagonal: bool = False,
) -> str:
    """One chart: the plot area, then the axis label, then one legend row per series, so
    the legend is outside the plot and never covers a curve."""
    height = _H + _LEGEND_ROW * len(series)

    def sx(v: float) -> float:
        return _PAD + v * (_W - _PAD - 10)

    def sy(v: float) -> float:
        return _H - _PAD - v * (_H - _PAD - 24)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{_W / 2}" y="16" text-anchor="middle" font-weight="bold">'
        f"{html.escape(title)}</text>",
        f'<rect x="{sx(0)}" y="{sy(1)}" width="{sx(1) - sx(0)}" height="{sy(0) - sy(1)}" '
        'fill="none" stroke="#999"/>',
        f'<text x="{(sx(0) + sx(1)) / 2}" y="{_H - 8}" text-anchor="middle" font-size="11">'
        f"{html.escape(x_label)}</text>",
        f'<text x="12" y="{_H / 2}" font-size="11" transform="rotate(-90 12 {_H / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>',
    ]
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{sx(tick)}" y="{sy(0) + 12}" font-size="9" text-anchor="middle">'
            f"{tick:g}</text>"
        )
        parts.append(
            f'<text x="{sx(0) - 4}" y="{sy(tick) + 3}" font-size="9" text-anchor="end">'
            f"{tick:g}</text>"
        )
    if diagonal:
        parts.append(
            f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(1)}" y2="{sy(1)}" stroke="#bbb" '
            'stroke-dasharray="4 3"/>'
        )
    for i, (name, xs, ys) in enumerate(series):
        colour = _COLOURS[i % len(_COLOURS)]
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        row = _H + 4 + _LEGEND_ROW * i
        parts.append(
            f'<line class="legend" x1="{sx(0)}" y1="{row + 6}" x2="{sx(0) + 18}" '
            f'y2="{row + 6}" stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(
            f'<text class="legend" x="{sx(0) + 24}" y="{row + 10}" font-size="11" '
            f'fill="{colour}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


class _Count(int):
    """A value the report shows as an integer count."""


class _Signed(float):
    """A gain the report shows with its sign (+0.0123, -0.0048)."""


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, _Signed):
        return f"{float(value):+.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,}" if value.is_integer() and abs(value) >= 1e4 else f"{value:.4f}"
    return html.escape(str(value))


def _cell(name: str, value: Any) -> Any:
    """``value`` typed for :func:`_fmt` by what the column holds."""
    if value is None or isinstance(value, bool):
        return value
    if name in _COUNTS and isinstance(value, int | float):
        return _Count(int(value))
    return value


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bars(title: str, groups: dict[str, dict[str, Any]]) -> str:
    """Selection rate and true-positive rate per group, as paired horizontal bars."""
    width, row_h, left = 420, 26, 90
    rows = sorted(groups.items())
    height = 30 + row_h * len(rows) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    span = width - left - 60
    for i, (name, g) in enumerate(rows):
        y = 30 + i * row_h
        parts.append(f'<text x="4" y="{y + 14}" font-size="12">{html.escape(name)}</text>')
        for j, (key, colour) in enumerate(
            (("selection_rate", "#0969da"), ("true_positive_rate", "#bf8700"))
        ):
            value = g.get(key)
            if value is None:
                continue
            parts.append(
                f'<rect x="{left}" y="{y + j * 10}" width="{span * value:.1f}" height="9" '
                f'fill="{colour}"><title>{key} {value:.3f}</title></rect>'
                f'<text x="{left + span * value + 4:.1f}" y="{y + j * 10 + 8}" '
                f'font-size="10">{value:.2f}</text>'
            )
    legend_y = height - 8
    parts.append(
        f'<rect x="{left}" y="{legend_y - 8}" width="9" height="9" fill="#0969da"/>'
        f'<text x="{left + 12}" y="{legend_y}" font-size="11">selection rate</text>'
        f'<rect x="{left + 110}" y="{legend_y - 8}" width="9" height="9" fill="#bf8700"/>'
        f'<text x="{left + 122}" y="{legend_y}" font-size="11">true-positive rate</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _fairness_html(fairness: dict[str, Any]) -> str:
    if not fairness:
        return "<p>no sensitive attribute declared</p>"
    out = []
    for attribute, report in fairness.items():
        scopes = [("all rows", report["overall"]), *report["segments"].items()]
        rows = [
            [
                scope,
                ", ".join(
                    f"{g}: {v['selection_rate']:.3f} / "
                    + (
                        "n/a"
                        if v["true_positive_rate"] is None
                        else f"{v['true_positive_rate']:.3f}"
                    )
                    + f" (n={v['n']})"
                    for g, v in sorted(r["groups"].items())
                    if v["selection_rate"] is not None
                ),
                r["selection_rate_ratio"],
                r["selection_rate_difference"],
                r["true_positive_rate_difference"],
            ]
            for scope, r in scopes
        ]
        out.append(
            f"<h3>{html.escape(attribute)} (threshold {report['threshold']})</h3>"
            + _bars(f"{attribute}: rates per group, all rows", report["overall"]["groups"])
            + _table(
                [
                    "scope",
                    "group: selection rate / true-positive rate (rows)",
                    "selection-rate ratio",
                    "selection-rate difference",
                    "true-positive-rate difference",
                ],
                rows,
            )
        )
    return "".join(out)


def _confusion_html(evals: Sequence[dict[str, Any]]) -> str:
    blocks = []
    for e in evals:
        m = e.get("confusion") or {}
        if not m:
            continue
        threshold = e.get("threshold", 0.5)
        table = _table(
            [f"{e['label']} at threshold {threshold:g}", "predicted 1", "predicted 0"],
            [
                ["actual 1", _Count(m["tp"]), _Count(m["fn"])],
                ["actual 0", _Count(m["fp"]), _Count(m["tn"])],
            ],
        )
        blocks.append(f'<div class="matrix">{table}</div>')
    return "".join(blocks) or "<p>none</p>"


def _gain_html(gain: dict[str, Any] | None, cand: str, champ: str | None) -> str:
    if not gain:
        return "<p>no champion to compare with</p>" if champ is None else "<p>n/a</p>"
    return (
        f"<p>{html.escape(cand)} against {html.escape(champ or '')} on "
        f"<code>{html.escape(gain['metric'])}</code>: <b>{gain['estimate']:+.4f}</b> "
        f"({gain['confidence']:.0%} interval {gain['low']:+.4f} to {gain['high']:+.4f}; "
        f"paired bootstrap over the same {gain['rows']:,} held-out rows, "
        f"{gain['resamples']:,} resamples; positive: the candidate is better)</p>"
    )


def _html(data: dict[str, Any], metric: str) -> str:
    cand, champ = data["candidate"], data["champion"]
    evals = [cand] + ([champ] if champ else [])
    charts = []
    for key, title, xl, yl in (
        ("roc", "ROC", "false positive rate", "true positive rate"),
        ("pr", "Precision-recall", "recall", "precision"),
    ):
        series = [
            (e["label"], e["curves"][key]["x"], e["curves"][key]["y"])
            for e in evals
            if key in e["curves"]
        ]
        charts.append(_svg_chart(title, series, xl, yl, diagonal=key == "roc"))
    rel = [
        (
            f"{e['label']} (ECE {e['calibration']['ece']:.3f})",
            [b["mean_predicted"] for b in e["calibration"]["bins"]],
            [b["observed"] for b in e["calibration"]["bins"]],
        )
        for e in evals
    ]
    charts.append(_svg_chart("Reliability", rel, "mean predicted", "observed", diagonal=True))

    names = ["roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1", "ece", "n"]
    overall = _table(
        ["model", *names],
        [[e["label"], *(_cell(n, e["overall"].get(n)) for n in names)] for e in evals],
    )
    lower_better = metric in ("log_loss", "brier", "ece")
    seg_rows = []
    for column, values in cand["segments"].items():
        for value, m in values.items():
            old = ((champ or {}).get("segments", {}).get(column) or {}).get(value) or {}
            new_v, old_v = m.get(metric), old.get(metric)
            gain = None
            if new_v is not None and old_v is not None:
                gain = _Signed(old_v - new_v if lower_better else new_v - old_v)
            seg_rows.append([f"{column}={value}", _cell("n", m.get("n")), new_v, old_v, gain])
    segments = _table(
        ["segment", "rows", cand["label"], champ["label"] if champ else "champion", "gain"],
        seg_rows,
    )
    acc = data["acceptance"]
    checks = _table(
        ["check", "passed", "observed", "threshold", "detail"],
        [
            [
                c["name"],
                "yes" if c["passed"] else "NO",
                _Signed(c["observed"]) if _is_gain(c) else c["observed"],
                _Signed(c["threshold"])
                if _is_gain(c) and c["threshold"] is not None
                else c["threshold"],
                c["message"],
            ]
            for c in acc["checks"]
        ],
    )
    golden = data.get("golden_set")
    golden_html = (
        f"<p>{golden['row_count']} rows, hash <code>{html.escape(golden['hash'])}</code>; stored "
        "with the version and checked by <code>modelward reproduce</code>.</p>"
        if golden
        else "<p>none</p>"
    )
    gain_html = _gain_html(data.get("gain"), cand["label"], champ["label"] if champ else None)
    confusion = _confusion_html(evals)
    verdict = "ACCEPTED" if acc["passed"] else "REJECTED"
    colour = "#1a7f37" if acc["passed"] else "#cf222e"
    ctx = " · ".join(f"{k}: {html.escape(str(v))}" for k, v in data["context"].items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation: {html.escape(cand["label"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.charts svg {{ margin-right: 12px; }}
.matrix {{ display: inline-block; margin-right: 16px; vertical-align: top; }}
.verdict {{ color: {colour}; font-weight: bold; }}
</style></head><body>
<h1>Evaluation of {html.escape(cand["label"])}
 against {html.escape(champ["label"]) if champ else "no champion"}</h1>
<p>{ctx}</p>
<p class="verdict">Acceptance policy: {verdict}</p>
{checks}
<h2>Gain over the champion</h2>{gain_html}
<h2>Curves</h2><div class="charts">{"".join(charts)}</div>
<h2>Confusion matrices</h2>{confusion}
<h2>Overall</h2>{overall}
<h2>Segments ({html.escape(metric)})</h2>{segments}
<h2>Fairness</h2>{_fairness_html(cand.get("fairness") or {})}
<h2>Golden set</h2>{golden_html}
</body></html>
"""


def _write(path: Path, text: str) -> None:
    write_text_replacing(path, text, what="the evaluation report")


def _is_gain(check: dict[str, Any]) -> bool:
    name = str(check.get("name", ""))
    return name.startswith(("beats champion", "segment ")) and check.get("observed") is not None


def write_report(
    folder: Path,
    candidate: Evaluation,
    champion: Evaluation | None,
    policy: PolicyResult,
    golden: GoldenSet | None = None,
    *,
    metric: str = "roc_auc",
    context: dict[str, Any] | None = None,
    gain: GainInterval | None = None,
) -> tuple[Path, Path]:
    """Write ``evaluation.json`` and ``evaluation.html`` into ``folder``; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    data = report_dict(candidate, champion, policy, golden, context, gain)
    data["metric"] = metric
    return _write_both(folder, data)


def _write_both(folder: Path, data: dict[str, Any]) -> tuple[Path, Path]:
    json_path, html_path = folder / "evaluation.json", folder / "evaluation.html"
    _write(json_path, json.dumps(data, indent=2, default=str))
    _write(html_path, _html(data, str(data.get("metric", "roc_auc"))))
    return json_path, html_path


def name_candidate(folder: Path, ref: str) -> tuple[Path, Path]:
    """Rewrite the report in ``folder`` with the candidate named by its registered version
    (``churn@4 (gbm)``): the report is written before registration gives the number."""
    data = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    label = str(data["candidate"]["label"])
    if not label.startswith(ref):
        data["candidate"]["label"] = f"{ref} ({label})"
    data.setdefault("context", {})["candidate_version"] = ref
    return _write_both(folder, data)

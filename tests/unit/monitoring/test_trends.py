"""AUC and calibration per segment over the stored runs: in window order, with gaps where a
window had no labels, and what to do when no run had any."""

from __future__ import annotations

from typing import Any

from modelward.monitoring.trends import performance_trends, trends_html


def _run(at: str, auc: float | None, pro_auc: float | None, version: str = "3") -> Any:
    return {
        "id": at,
        "window_end": at,
        "versions": [
            {
                "version": version,
                "performance": {
                    "auc": auc,
                    "ece": 0.05,
                    "segments": {"plan": {"pro": {"auc": pro_auc, "ece": 0.1}}},
                },
            }
        ],
    }


def test_trends_are_in_window_order_with_gaps_where_a_window_had_no_labels() -> None:
    runs = [
        _run("2026-01-01T03:00:00+00:00", 0.8, None),  # no labelled "pro" rows then
        _run("2026-01-01T01:00:00+00:00", 0.9, 0.9),
        _run("2026-01-01T02:00:00+00:00", 0.85, 0.6),
    ]
    trends = performance_trends(runs)
    assert trends["runs"] == 3
    assert [p["value"] for p in trends["overall"]["auc"]["3"]] == [0.9, 0.85, 0.8]
    pro = trends["segments"]["plan"]["pro"]["auc"]["3"]
    assert [(p["at"][11:16], p["value"]) for p in pro] == [("01:00", 0.9), ("02:00", 0.6)]
    page = trends_html(trends)
    assert "plan: AUC (higher is better)" in page
    assert page.count("<polyline") == 4  # overall AUC, overall ECE, pro AUC, pro ECE


def test_no_labels_in_any_run_says_how_to_get_the_charts() -> None:
    trends = performance_trends([_run("2026-01-01T01:00:00+00:00", None, None)])
    trends["overall"]["ece"] = {}
    trends["segments"] = {}
    assert "modelward labels ingest" in trends_html(trends)

"""Evaluation against the champion: segment metrics, calibration, golden set, policy, report."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.pipelines.evaluation import (
    AcceptancePolicy,
    calibration,
    compare_golden,
    evaluate,
    gain_interval,
    golden_set,
)
from modelward.pipelines.report import name_candidate, write_report

rng = np.random.default_rng(7)
N = 2_000
Y = rng.integers(0, 2, N)
PLAN = np.where(rng.random(N) < 0.5, "basic", "pro")
GOOD = np.clip(0.5 * Y + 0.5 * rng.random(N), 0, 1)  # informative, badly calibrated
NOISE = rng.random(N)


def test_metrics_overall_and_per_segment() -> None:
    ev = evaluate(Y, GOOD, segments={"plan": PLAN}, label="cand")
    assert ev.overall["roc_auc"] is not None and ev.overall["roc_auc"] > 0.9
    assert set(ev.segments["plan"]) == {"basic", "pro"}
    assert sum(m["n"] or 0 for m in ev.segments["plan"].values()) == N
    assert len(ev.curves["roc"]["x"]) <= 101
    assert ev.flat_segments("roc_auc").keys() == {"plan=basic", "plan=pro"}


def test_segment_with_one_class_has_no_auc_but_still_counts() -> None:
    ev = evaluate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], segments={"s": ["a", "a", "b", "b"]})
    assert ev.segments["s"]["a"]["roc_auc"] is None and ev.segments["s"]["a"]["n"] == 2
    json.dumps(ev.to_dict(), allow_nan=False)  # no NaN leaks into the report


def test_perfect_calibration_has_zero_ece() -> None:
    cal = calibration([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], bins=10)
    assert cal.ece == 0.0 and cal.bins[0]["count"] == 4


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=1, max_size=200))
def test_ece_is_between_0_and_1_and_bins_cover_every_row(pairs: list[tuple[int, float]]) -> None:
    y, p = zip(*pairs, strict=True)
    cal = calibration(y, p, bins=10)
    assert 0.0 <= cal.ece <= 1.0
    assert sum(b["count"] for b in cal.bins) == len(pairs)


def test_bad_predictions_are_refused() -> None:
    with pytest.raises(InputError, match="probabilities in \\[0, 1\\]"):
        evaluate([0, 1], [0.2, 1.4])
    with pytest.raises(InputError, match="labels must be 0 or 1"):
        evaluate([0, 2], [0.2, 0.4])


def test_policy_accepts_a_better_candidate_and_names_what_fails() -> None:
    champ = evaluate(Y, NOISE, segments={"plan": PLAN}, label="churn@1")
    cand = evaluate(Y, GOOD, segments={"plan": PLAN}, label="candidate")
    strict_calibration = AcceptancePolicy(metric="roc_auc", min_delta=0.1, max_ece=0.01)
    result = strict_calibration.judge(cand, champ)
    assert not result.passed
    failed = [c.name for c in result.checks if not c.passed]
    assert failed == ["calibration"]
    assert AcceptancePolicy(max_ece=0.5).judge(cand, champ).passed
    worse = AcceptancePolicy(max_ece=1.0).judge(champ, cand)
    assert not worse.passed
    assert {c.name for c in worse.checks if not c.passed} >= {
        "beats champion on roc_auc",
        "segment plan=basic",
        "segment plan=pro",
    }


def test_no_champion_passes_the_comparison() -> None:
    result = AcceptancePolicy(max_ece=1.0).judge(evaluate(Y, GOOD), None)
    assert result.passed and "no champion" in result.checks[0].message


def test_policy_refuses_negative_thresholds() -> None:
    with pytest.raises(InputError, match="min_delta"):
        AcceptancePolicy(min_delta=-1)


def test_golden_set_is_deterministic_and_compared_with_tolerance() -> None:
    rows = [{"id": i, "plan": PLAN[i]} for i in range(100)]
    g1 = golden_set(rows, GOOD[:100], segment_columns=["plan"], per_segment=3, order_by="id")
    g2 = golden_set(
        list(reversed(rows)),
        GOOD[:100][::-1],
        segment_columns=["plan"],
        per_segment=3,
        order_by="id",
    )
    assert g1.hash == g2.hash and len(g1.rows) == 6
    assert compare_golden(g1, g1.expected) == []
    moved = [e + 1e-4 for e in g1.expected]
    assert compare_golden(g1, moved, tolerance=1e-3) == []
    assert len(compare_golden(g1, moved)) == 6


def test_report_is_json_and_a_self_contained_html_page(tmp_path: Path) -> None:
    champ = evaluate(Y, NOISE, segments={"plan": PLAN}, label="churn@1")
    cand = evaluate(Y, GOOD, segments={"plan": PLAN}, label="candidate")
    policy = AcceptancePolicy(max_ece=0.5).judge(cand, champ)
    golden = golden_set([{"id": i} for i in range(10)], GOOD[:10])
    json_path, html_path = write_report(tmp_path, cand, champ, policy, golden)
    data = json.loads(json_path.read_text())
    assert data["acceptance"]["passed"] is True
    assert data["golden_set"]["row_count"] == 5  # per_segment rows of the one segment
    page = html_path.read_text()
    assert (
        "ACCEPTED" in page
        and "plan=basic" in page
        and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    svgs = page.count("<svg")
    assert svgs == 3
    for chunk in page.split("<svg")[1:]:
        ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")  # well-formed SVG


def test_segment_checks_sign_gains_like_the_overall_check() -> None:
    """A segment the candidate improves once showed `-0.0048` beside "worse by 0.0000"."""
    champ = evaluate(Y, NOISE, segments={"plan": PLAN}, label="churn@1")
    cand = evaluate(Y, GOOD, segments={"plan": PLAN}, label="candidate")
    for check in AcceptancePolicy(max_ece=1.0).judge(cand, champ).checks:
        if check.observed is None or check.name == "calibration":
            continue
        assert check.observed > 0 and "better by" in check.message, check
        assert "worse by 0.0000" not in check.message
    # and the other way round: worse is negative, and says so
    for check in AcceptancePolicy(max_ece=1.0).judge(champ, cand).checks:
        if check.name.startswith("segment"):
            assert check.observed is not None and check.observed < 0
            assert "worse by" in check.message and not check.passed
            assert check.threshold == -0.05  # the lowest gain allowed


def test_confusion_matrix_at_the_threshold_counts_every_row() -> None:
    ev = evaluate(Y, GOOD, threshold=0.6)
    m = ev.confusion
    assert sum(m.values()) == N and ev.threshold == 0.6
    assert m["tp"] == int(((GOOD >= 0.6) & (Y == 1)).sum())
    assert isinstance(ev.overall["n"], int)


def test_gain_interval_is_seeded_and_brackets_the_estimate() -> None:
    a = gain_interval(Y, GOOD, NOISE, metric="roc_auc", resamples=300)
    b = gain_interval(Y, GOOD, NOISE, metric="roc_auc", resamples=300)
    assert a == b  # same inputs, same seed, same interval
    assert 0 < a.low <= a.estimate <= a.high
    from sklearn.metrics import log_loss, roc_auc_score

    # the vectorised metrics are scikit-learn's (ties in the scores included)
    assert a.estimate == pytest.approx(roc_auc_score(Y, GOOD) - roc_auc_score(Y, NOISE), abs=1e-6)
    tied = np.round(GOOD, 1)
    assert gain_interval(Y, tied, NOISE, resamples=50).estimate == pytest.approx(
        roc_auc_score(Y, tied) - roc_auc_score(Y, NOISE), abs=1e-6
    )
    ll = gain_interval(Y, GOOD, NOISE, metric="log_loss", resamples=50).estimate
    assert ll == pytest.approx(log_loss(Y, NOISE) - log_loss(Y, GOOD), abs=1e-6)
    worse = gain_interval(Y, NOISE, GOOD, metric="log_loss", resamples=300)
    assert worse.high < 0  # lower-is-better metrics are signed as gains too
    same = gain_interval(Y, GOOD, GOOD, metric="roc_auc", resamples=300)
    assert same.low == same.estimate == same.high == 0.0
    with pytest.raises(InputError, match="metric 'f1'"):
        gain_interval(Y, GOOD, NOISE, metric="f1")


def test_report_shows_counts_as_integers_signs_legends_matrices_and_the_interval(
    tmp_path: Path,
) -> None:
    champ = evaluate(Y, NOISE, segments={"plan": PLAN}, label="churn@1")
    cand = evaluate(Y, GOOD, segments={"plan": PLAN}, label="gbm")
    policy = AcceptancePolicy(max_ece=0.5).judge(cand, champ)
    gain = gain_interval(Y, GOOD, NOISE, resamples=200)
    _, html_path = write_report(tmp_path, cand, champ, policy, gain=gain)
    page = html_path.read_text()
    assert "2000.0000" not in page and f"<td>{N:,}</td>" in page  # rows as an integer
    assert f"{gain.estimate:+.4f}" in page and "95% interval" in page
    assert "Confusion matrices" in page and "predicted 1" in page
    for chunk in page.split("<svg")[1:]:
        svg = ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")
        frame = next(e for e in svg if e.tag.endswith("rect"))
        bottom = float(frame.get("y", 0)) + float(frame.get("height", 0))
        legends = [e for e in svg if e.get("class") == "legend"]
        assert legends and all(float(e.get("y") or e.get("y1") or 0) > bottom for e in legends), (
            "a legend inside the plot area covers the curves"
        )
    name_candidate(tmp_path, "churn@2")
    page = html_path.read_text()
    assert "Evaluation of churn@2 (gbm)" in page
    assert json.loads((tmp_path / "evaluation.json").read_text())["candidate"]["label"] == (
        "churn@2 (gbm)"
    )
    name_candidate(tmp_path, "churn@2")  # naming twice keeps one name
    assert "churn@2 (churn@2" not in html_path.read_text()

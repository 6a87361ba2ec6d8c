"""The evaluation report's own edges: no champion, a rejected candidate, text from the run
shown as text, numbers formatted by what they are, gains signed for lower-is-better
metrics, fairness drawn per group, and nothing left beside the two files.

(The report of a typical accepted run, its curves, legends and interval are in
test_evaluation.py.)"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from modelward.pipelines.evaluation import AcceptancePolicy, evaluate
from modelward.pipelines.report import _cell, _fmt, _Signed, write_report

rng = np.random.default_rng(3)
N = 240
Y = rng.integers(0, 2, N)
PLAN = np.where(rng.random(N) < 0.5, "basic", "pro")
REGION = np.where(rng.random(N) < 0.5, "north", "south")
GOOD = np.clip(0.6 * Y + 0.4 * rng.random(N), 0, 1)
NOISE = rng.random(N)


def test_numbers_are_shown_by_what_they_are() -> None:
    assert _fmt(None) == "n/a"
    assert (_fmt(True), _fmt(False)) == ("yes", "no")
    assert _fmt(_cell("n", 12345.0)) == "12,345"  # a count, even stored as a float
    assert _fmt(_cell("roc_auc", 0.812345)) == "0.8123"
    assert _fmt(20000.0) == "20,000.0"  # a large whole figure is not shown as 20000.0000
    assert (_fmt(_Signed(0.01234)), _fmt(_Signed(-0.0048))) == ("+0.0123", "-0.0048")
    assert _fmt("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"


def test_without_a_champion_the_page_says_so_and_has_one_model(tmp_path: Path) -> None:
    cand = evaluate(Y, GOOD, label="gbm")
    policy = AcceptancePolicy(max_ece=1.0).judge(cand, None)
    json_path, html_path = write_report(tmp_path, cand, None, policy)
    page = html_path.read_text()
    assert "against no champion" in page and "no champion to compare with" in page
    assert "<p>none</p>" in page  # no golden set
    assert json.loads(json_path.read_text())["champion"] is None
    assert page.count('<div class="matrix">') == 1


def test_a_rejected_candidate_is_said_rejected_in_red(tmp_path: Path) -> None:
    champ = evaluate(Y, GOOD, label="churn@1")
    cand = evaluate(Y, NOISE, label="noise")
    policy = AcceptancePolicy(max_ece=1.0).judge(cand, champ)
    assert not policy.passed
    _, html_path = write_report(tmp_path, cand, champ, policy)
    page = html_path.read_text()
    assert "Acceptance policy: REJECTED" in page and "#cf222e" in page
    assert "<td>NO</td>" in page  # the failing check, plainly


def test_labels_and_context_from_the_run_are_escaped(tmp_path: Path) -> None:
    cand = evaluate(Y, GOOD, label="<script>alert(1)</script>")
    policy = AcceptancePolicy(max_ece=1.0).judge(cand, None)
    context = {"dataset": 'churn@2 "<img src=x>"'}
    _, html_path = write_report(tmp_path, cand, None, policy, context=context)
    page = html_path.read_text()
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_lower_is_better_metric_signs_segment_gains_as_gains(tmp_path: Path) -> None:
    champ = evaluate(Y, NOISE, segments={"plan": PLAN}, label="churn@1")
    cand = evaluate(Y, GOOD, segments={"plan": PLAN}, label="gbm")
    policy = AcceptancePolicy(max_ece=1.0).judge(cand, champ)
    _, html_path = write_report(tmp_path, cand, champ, policy, metric="log_loss")
    page = html_path.read_text()
    assert "Segments (log_loss)" in page
    row = re.search(r"<tr><td>plan=basic</td>(.*?)</tr>", page)
    assert row is not None
    gain = re.findall(r"<td>([^<]*)</td>", row.group(1))[-1]
    assert gain.startswith("+")  # the candidate's lower log loss is a positive gain


def test_fairness_is_drawn_per_group_as_well_formed_svg(tmp_path: Path) -> None:
    cand = evaluate(Y, GOOD, label="gbm", sensitive={"region": REGION}, min_group_rows=10)
    policy = AcceptancePolicy(max_ece=1.0).judge(cand, None)
    _, html_path = write_report(tmp_path, cand, None, policy)
    page = html_path.read_text()
    assert "no sensitive attribute declared" not in page
    start = page.rindex("<svg", 0, page.index('aria-label="region: rates per group, all rows"'))
    svg = page[start : page.index("</svg>", start) + len("</svg>")]
    names = [e.text for e in ET.fromstring(svg) if e.tag.endswith("text")]
    assert {"north", "south", "selection rate", "true-positive rate"} <= set(names)


def test_only_the_two_report_files_are_left_in_the_folder(tmp_path: Path) -> None:
    cand = evaluate(Y, GOOD, label="gbm")
    policy = AcceptancePolicy(max_ece=1.0).judge(cand, None)
    folder = tmp_path / "new" / "report"  # made on the way
    write_report(folder, cand, None, policy)
    write_report(folder, cand, None, policy)  # written again: replaced, not beside
    assert sorted(p.name for p in folder.iterdir()) == ["evaluation.html", "evaluation.json"]

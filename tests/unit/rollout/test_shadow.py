"""The shadow disagreement report finds the cohort where a planted disagreement lives,
ranks the input that separates disagreeing from agreeing pairs first, and counts the
candidate's failures apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward import rollout
from modelward.config import Workspace
from modelward.errors import InputError
from modelward.monitoring import PredictionSink, open_prediction_sink
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.rollout.support import Setup, setup
from tests.unit.rollout.traffic import mirror

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def w(sqlite_workspace: Workspace) -> Iterator[Setup]:
    made = setup(sqlite_workspace)
    yield made
    made.session.close()


@pytest.fixture
def sink(sqlite_workspace: Workspace) -> Iterator[PredictionSink]:
    opened = open_prediction_sink({"type": "memory"}, sqlite_workspace.root)
    yield opened
    opened.close()


def _start(w: Setup, strategy: str = "shadow") -> rollout.Release:
    return rollout.start_release(
        w.session,
        w.operator,
        endpoint="churn",
        baseline=w.baseline,
        candidate=w.candidate,
        strategy=strategy,
    )


def _row(rid: str, role: str, prediction: Any, inputs: dict[str, Any], **extra: Any) -> Any:
    from modelward.monitoring import PredictionRecord

    return PredictionRecord(
        rid, 1_000, "churn", "churn", "1" if role == "primary" else "2", inputs, prediction,
        10.0, False, role=role, **{"release_id": "rel", **extra},
    )  # fmt: skip


@st.composite
def _logs(draw: st.DrawFn) -> list[Any]:
    """Log rows of one release: request ids from a small pool (so retries, strays and
    copies without a primary occur), any role, some errors, scores or nothing."""
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        role = draw(st.sampled_from(["primary", "shadow", "candidate"]))
        error = draw(st.sampled_from(["", "", "", "TimeoutError"]))
        score = draw(st.one_of(st.none(), st.floats(0, 1, allow_nan=False)))
        plan = draw(st.sampled_from(["basic", "pro"]))
        rid = f"r{draw(st.integers(0, 9))}"
        rows.append(_row(rid, role, None if error else score, {"plan": plan}, error=error))
    return rows


def _reference(rows: list[Any], threshold: float) -> dict[str, Any]:
    """The pairing spelled out row by row: the last answer of each role counts."""
    primary: dict[str, Any] = {}
    shadow: dict[str, Any] = {}
    failed = 0
    for r in rows:
        if r.role == "shadow" and r.error:
            failed += 1
        elif not r.error and r.role == "primary":
            primary[r.request_id] = r
        elif not r.error and r.role == "shadow":
            shadow[r.request_id] = r
    pairs = []
    for rid, copy in shadow.items():
        if rid in primary:
            a, b = primary[rid].prediction, copy.prediction
            numbers = a is not None and b is not None
            pairs.append(((a >= threshold) != (b >= threshold)) if numbers else a != b)
    return {
        "pairs": len(pairs),
        "disagreements": sum(pairs),
        "unpaired": len(shadow) - len(pairs),
        "shadow_failed": failed,
    }


def test_the_report_names_the_cohort_where_a_planted_disagreement_lives(
    w: Setup, sink: PredictionSink
) -> None:
    release = _start(w)
    sink.write(mirror(release, 1_200, seed=5))
    report = rollout.shadow_report(w.session, sink, "churn", top=5)
    assert report.pairs == 1_188 and report.shadow_failed == 12 and report.unpaired == 0
    worst = report.worst_cohort()
    assert worst is not None and (worst["field"], worst["value"]) == ("plan", "pro")
    by_plan = {c["value"]: c["rate"] for c in report.segments["plan"]}
    assert by_plan["pro"] > 0.7 and by_plan["basic"] < 0.1 and by_plan["enterprise"] < 0.1
    assert report.top_features[0]["feature"] == "plan"  # not tenure or spend: they are noise
    assert {e["inputs"]["plan"] for e in report.examples} == {"pro"}
    assert len(report.examples) == 5
    assert report.latency_ms["shadow"]["p99"] == pytest.approx(35.0)
    data = report.to_dict()
    assert data["disagreement_rate"] == pytest.approx(report.disagreements / 1_188)
    assert set(data["ranges"]) == {"spend", "tenure"}  # numeric inputs by quartile range


def test_a_report_needs_a_shadow_release_and_known_segments(w: Setup, sink: PredictionSink) -> None:
    release = _start(w, "canary")
    with pytest.raises(InputError, match="is a canary release") as caught:
        rollout.shadow_report(w.session, sink, "churn")
    assert caught.value.details["field"] == "release"
    rollout.abort(w.session, w.operator, "churn")
    release = _start(w)
    sink.write(mirror(release, 30, seed=6))
    with pytest.raises(InputError, match="segments: region is not an input of churn"):
        rollout.shadow_report(w.session, sink, "churn", segments=["region"])
    empty = rollout.shadow_report(
        w.session, open_prediction_sink({"type": "memory"}, w.session.workspace.root), "churn"
    )
    assert empty.pairs == 0 and empty.rate is None and empty.worst_cohort() is None


def test_pairing_keeps_a_retry_once_counts_strays_and_compares_labels_as_they_are() -> None:
    sink = open_prediction_sink({"type": "memory"}, Path("."))
    sink.write(
        [
            _row("a", "primary", "churns", {"plan": "pro"}),
            _row("a", "shadow", "stays", {"plan": "pro"}),
            _row("b", "primary", "stays", {"plan": "basic"}),
            _row("b", "shadow", "churns", {"plan": "basic"}),
            _row("b", "shadow", "stays", {"plan": "basic"}),  # a retry: the last answer counts
            _row("c", "shadow", "stays", {"plan": "basic"}),  # no primary row
            _row("d", "primary", "stays", {"plan": "basic"}),
            _row("d", "shadow", None, {"plan": "basic"}, error="TimeoutError"),
            _row("e", "primary", "stays", {"plan": "basic"}, release_id="other"),
        ]
    )
    report = rollout.shadow_report_window(
        sink.read_window("churn"), endpoint="churn", release_id="rel", baseline="churn@1",
        candidate="churn@2",
    )  # fmt: skip
    assert (report.pairs, report.disagreements, report.unpaired, report.shadow_failed) == (
        2, 1, 1, 1,
    )  # fmt: skip
    assert report.mean_abs_diff is None  # labels have no score difference
    assert [e["request_id"] for e in report.examples] == ["a"]
    assert report.examples[0] == {
        "request_id": "a", "primary": "churns", "shadow": "stays", "diff": None,
        "inputs": {"plan": "pro"},
    }  # fmt: skip
    assert {c["value"]: c["rate"] for c in report.segments["plan"]} == {"pro": 1.0, "basic": 0.0}


@settings(max_examples=60, deadline=None)
@given(rows=_logs(), threshold=st.sampled_from([0.3, 0.5]))
def test_the_vectorised_pairing_matches_pairing_row_by_row(
    rows: list[Any], threshold: float
) -> None:
    sink = open_prediction_sink({"type": "memory"}, Path("."))
    sink.write(rows)
    report = rollout.shadow_report_window(
        sink.read_window("churn"), endpoint="churn", release_id="rel", baseline="churn@1",
        candidate="churn@2", threshold=threshold,
    )  # fmt: skip
    got = {k: getattr(report, k) for k in ("pairs", "disagreements", "unpaired", "shadow_failed")}
    assert got == _reference(rows, threshold)
    if report.pairs:
        by_plan = report.segments["plan"]
        assert sum(c["pairs"] for c in by_plan) == report.pairs
        assert sum(c["disagreements"] for c in by_plan) == report.disagreements

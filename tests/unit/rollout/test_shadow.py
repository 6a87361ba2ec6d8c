"""The shadow disagreement report finds the cohort where a planted disagreement lives,
ranks the input that separates disagreeing from agreeing pairs first, and counts the
candidate's failures apart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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

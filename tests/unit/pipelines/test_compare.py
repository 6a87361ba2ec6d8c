"""Comparing two pipeline runs: what changed (parameters, each step's outputs) and what did
not, step by step; a run compared with itself is the same."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.errors import NotFound
from modelward.pipelines import run_pipeline
from modelward.pipelines.compare import compare_runs
from modelward.session import Session
from tests.unit.pipelines.sample import arith


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


def test_a_run_compared_with_a_rerun_of_the_same_inputs_is_the_same(session: Session) -> None:
    first = run_pipeline(session, arith, {"n": 5}, executor="inline")
    again = run_pipeline(session, arith, {"n": 5}, executor="inline")
    diff = compare_runs(session, first.id, again.id)
    assert diff.same and diff.changes == []
    assert {s.step: (s.same_inputs, s.same_outputs) for s in diff.steps} == {
        "numbers": (True, True),
        "split": (True, True),
        "total": (True, True),
    }
    assert {s.step: s.new_status for s in diff.steps} == dict.fromkeys(
        ("numbers", "split", "total"), "cached"
    )


def test_a_changed_parameter_shows_as_a_change_and_in_the_step_whose_output_moved(
    session: Session,
) -> None:
    small = run_pipeline(session, arith, {"n": 5}, executor="inline")
    scaled = run_pipeline(session, arith, {"n": 5, "scale": 2.0}, executor="inline")
    diff = compare_runs(session, small.id[:8], scaled.id[:8])  # an id prefix is enough
    what = [c.what for c in diff.changes]
    assert what == ["params.scale", "step.total.outputs"]
    assert diff.changes[0].to_dict() == {"what": "params.scale", "old": 1.0, "new": 2.0}
    steps = {s.step: s for s in diff.steps}
    # only total reads scale: the steps before it are the same work; total read the same
    # upstream outputs (its inputs) and, scaled, wrote other content
    assert (steps["numbers"].same_inputs, steps["numbers"].same_outputs) == (True, True)
    assert (steps["total"].same_inputs, steps["total"].same_outputs) == (True, False)
    assert (steps["total"].old_status, steps["total"].new_status) == ("succeeded", "succeeded")
    assert diff.to_dict()["same"] is False


def test_an_unknown_run_is_not_found(session: Session) -> None:
    run = run_pipeline(session, arith, {"n": 3}, executor="inline")
    with pytest.raises(NotFound):
        compare_runs(session, run.id, "ffffffffffff")

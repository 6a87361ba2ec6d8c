"""Running a pipeline: steps in graph order, each run or reused, what a failure or an
interruption leaves recorded, targets, pinned outputs, and the progress events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.errors import InputError
from modelward.pipelines import run_pipeline
from modelward.pipelines.cache import StoredValue
from modelward.pipelines.engine import StepEvent, load_output
from modelward.pipelines.runs import PipelineRun, get_run, list_runs
from modelward.session import Session
from tests.unit.pipelines.sample import arith, failing


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def statuses(run: PipelineRun) -> dict[str, str]:
    return {r.step: r.status for r in run.steps}


def test_steps_run_in_graph_order_and_report_their_progress(session: Session) -> None:
    events: list[StepEvent] = []
    run = run_pipeline(session, arith, {"n": 4}, executor="inline", on_event=events.append)
    assert run.status == "succeeded" and [r.step for r in run.steps] == [
        "numbers",
        "split",
        "total",
    ]
    assert [(e.kind, e.record.step) for e in events] == [
        ("started", "numbers"),
        ("finished", "numbers"),
        ("started", "split"),
        ("finished", "split"),
        ("started", "total"),
        ("finished", "total"),
    ]
    assert {e.total for e in events} == {3} and {e.run_id for e in events} == {run.id}
    # the squares of 0..3 are 0, 1, 4, 9
    assert load_output(session, run, "total") == {"evens": 4.0, "odds": 10.0}
    assert run.steps[0].params == {"n": 4} and run.steps[2].params == {"scale": 1.0}


def test_a_rerun_reuses_every_step_and_reports_only_that_each_finished(session: Session) -> None:
    run_pipeline(session, arith, executor="inline")
    events: list[StepEvent] = []
    again = run_pipeline(session, arith, executor="inline", on_event=events.append)
    assert set(statuses(again).values()) == {"cached"}
    assert [e.kind for e in events] == ["finished"] * 3
    assert all(r.wall_seconds == 0.0 for r in again.steps)


def test_a_failed_step_fails_the_run_and_the_steps_after_it_are_skipped(
    session: Session,
) -> None:
    run = run_pipeline(session, failing, executor="inline")
    assert statuses(run) == {"boom_source": "succeeded", "boom": "failed", "after_boom": "skipped"}
    assert run.status == "failed"
    assert run.error is not None and run.error.startswith("step 'boom' failed:")
    assert "no good: 3 values" in run.error
    stored = get_run(session, run.id)
    assert statuses(stored) == statuses(run) and stored.finished_at is not None
    # running it again resumes: it names the run it continues, its finished step is reused
    again = run_pipeline(session, failing, executor="inline")
    assert again.resumed_from == run.id and statuses(again)["boom_source"] == "cached"


def test_targets_run_only_the_steps_they_need(session: Session) -> None:
    run = run_pipeline(session, arith, executor="inline", targets=["split"])
    assert list(statuses(run)) == ["numbers", "split"]
    assert run.status == "succeeded"


def test_an_interrupted_run_is_recorded_so_with_no_step_left_running(session: Session) -> None:
    def interrupt_at_split(event: StepEvent) -> None:
        if (event.kind, event.record.step) == ("started", "split"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(session, arith, executor="inline", on_event=interrupt_at_split)
    [stored] = list_runs(session, "arith")  # as the store has it, steps and all
    assert (stored.status, stored.error) == ("interrupted", "the run was interrupted")
    assert statuses(stored) == {"numbers": "succeeded", "split": "failed", "total": "skipped"}
    assert next(r for r in stored.steps if r.step == "split").error == "interrupted"


def test_a_pinned_output_no_longer_stored_is_refused_naming_the_step(session: Session) -> None:
    gone = StoredValue(hash="0" * 64, codec="json", size=2)
    with pytest.raises(InputError, match="step 'numbers': recorded output\\(s\\) numbers") as e:
        run_pipeline(session, arith, executor="inline", pinned={"numbers": {"numbers": gone}})
    assert e.value.details["step"] == "numbers"


def test_a_pinned_step_is_not_run_and_its_recorded_output_is_used(session: Session) -> None:
    first = run_pipeline(session, arith, {"n": 3}, executor="inline")
    recorded = first.steps[0].outputs
    assert recorded is not None
    run = run_pipeline(
        session, arith, {"n": 5}, executor="inline", pinned={"numbers": recorded}, use_cache=False
    )
    assert statuses(run)["numbers"] == "pinned"
    assert load_output(session, run, "total") == {"evens": 4.0, "odds": 1.0}  # n=3's rows


def test_an_output_the_run_does_not_have_is_refused_naming_those_it_has(
    session: Session,
) -> None:
    run = run_pipeline(session, arith, executor="inline", targets=["numbers"])
    with pytest.raises(InputError, match="no stored output 'total'; outputs: numbers") as e:
        load_output(session, run, "total")
    assert e.value.details["output"] == "total"

"""``reproduce`` when the numbers differ: within the tolerance, beyond it, and exactly at it.

A pipeline whose evaluation reads a noise value from a file stands in for a trainer that
is not bit-for-bit deterministic: the test changes the file between the recorded run and
the reproduction, by less than, by exactly and by more than the tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.config import Workspace
from modelward.errors import InputError
from modelward.pipelines import find_pipeline, load_output, run_pipeline
from modelward.pipelines.reproduction import Difference, ReproduceReport, _compare, reproduce
from modelward.registry import latest_evidence
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS

pytestmark = MLFLOW_WARNINGS

PIPELINES = '''
from pathlib import Path

from modelward.pipelines import Param, StepContext, pipeline, step


@step
def rows(n: int) -> list[int]:
    return list(range(n))


@step
def evaluation(rows: list[int], noise: str) -> dict:
    """The metric moves with the number in the noise file: a nondeterministic trainer."""
    wobble = float(Path(noise).read_text())
    return {"overall": {"auc": 0.75 + wobble, "n": len(rows)}, "label": "auc"}


@step(side_effects=True)
def register(evaluation: dict, ctx: StepContext) -> str:
    from modelward.registry import runs, versions

    with runs.run("noisy", session=ctx.session) as run:
        run.log_metrics(evaluation["overall"])
    run.record.lineage["pipeline_run"] = {"id": ctx.run_id, "pipeline": ctx.pipeline}
    artifact = Path(ctx.session.workspace.root) / "artifact"
    artifact.mkdir(exist_ok=True)
    return versions.register(ctx.session, "noisy", run, model_uri=artifact.as_uri()).ref


noisy = pipeline("noisy", [rows, evaluation, register], params={"n": 4, "noise": Param(str)})
'''


@pytest.fixture
def recorded(sqlite_workspace: Workspace) -> Iterator[tuple[Session, Path, str]]:
    """The version ``noisy@1`` registered by a run whose noise was 0."""
    root = sqlite_workspace.root
    (root / "pipelines.py").write_text(PIPELINES)
    noise = root / "noise.txt"
    noise.write_text("0")
    with Session(sqlite_workspace) as session:
        run = run_pipeline(
            session, find_pipeline(session, "noisy"), {"noise": str(noise)}, executor="inline"
        )
        assert run.ok, run.error
        yield session, noise, load_output(session, run, "register")


def test_identical_numbers_are_identical(recorded: tuple[Session, Path, str]) -> None:
    session, _, ref = recorded
    report = reproduce(session, ref, executor="inline")
    assert (report.verdict, report.ok) == ("identical", True)
    assert report.outputs["evaluation"]["identical"]
    kept = latest_evidence(session, "reproduce", report.ref)  # what readiness reads
    assert kept is not None and kept.passed and kept.detail["verdict"] == "identical"
    assert kept.detail["reproduced_run"] == report.reproduced_run


@pytest.mark.parametrize(
    ("wobble", "tolerance", "verdict"),
    [
        pytest.param("0.0009765625", 0.001, "within_tolerance", id="less than the tolerance"),
        pytest.param("0.0009765625", 0.0009765625, "within_tolerance", id="exactly the tolerance"),
        pytest.param("0.0009765625", 0.0009, "differs", id="more than the tolerance"),
        pytest.param("0.0009765625", 0.0, "differs", id="any change without a tolerance"),
    ],
)
def test_a_metric_that_moved_is_judged_by_the_tolerance(
    recorded: tuple[Session, Path, str], wobble: str, tolerance: float, verdict: str
) -> None:
    session, noise, ref = recorded
    noise.write_text(wobble)
    report = reproduce(session, ref, tolerance=tolerance, executor="inline")
    assert report.verdict == verdict, report.to_dict()
    moved = Difference("evaluation.overall.auc", 0.75, 0.75 + float(wobble))
    if verdict == "differs":
        assert (report.differences, report.within_tolerance) == ([moved], [])
    else:
        assert (report.differences, report.within_tolerance) == ([], [moved])
    assert report.ok is (verdict != "differs")
    assert not report.outputs["evaluation"]["identical"]
    kept = latest_evidence(session, "reproduce", report.ref)
    assert kept is not None and (kept.passed, kept.detail["verdict"]) == (report.ok, verdict)


def test_a_negative_or_infinite_tolerance_is_refused(recorded: tuple[Session, Path, str]) -> None:
    session, _, ref = recorded
    for bad in (-0.1, float("inf"), float("nan")):
        with pytest.raises(InputError, match="tolerance"):
            reproduce(session, ref, tolerance=bad, executor="inline")


# --- the comparison itself, case by case ----------------------------------------------------


def _report(tolerance: float) -> ReproduceReport:
    return ReproduceReport("m@1", "a", "b", tolerance)


def test_compare_walks_nested_values_and_names_each_path() -> None:
    report = _report(0.01)
    old = {"a": {"x": 1.0, "y": [1, 2, 3]}, "s": "same", "gone": 1}
    new = {"a": {"x": 1.005, "y": [1, 2, 4]}, "s": "same", "new": 2}
    _compare("ev", old, new, 0.01, report)
    assert report.within_tolerance == [Difference("ev.a.x", 1.0, 1.005)]
    assert report.differences == [
        Difference("ev.a.y[2]", 3, 4),
        Difference("ev.gone", 1, None),
        Difference("ev.new", None, 2),
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (True, 2),  # a boolean is not a number to be within a tolerance of
        ("1.0", 1.0),
        ([1, 2], [1, 2, 3]),  # lists of other lengths differ as a whole
        (None, 0.0),
    ],
)
def test_compare_treats_non_numbers_exactly(old: object, new: object) -> None:
    report = _report(10.0)
    _compare("v", old, new, 10.0, report)
    assert report.differences == [Difference("v", old, new)]
    assert report.within_tolerance == []


def test_compare_sees_nan_equal_to_nan_and_nothing_else() -> None:
    report = _report(1.0)
    _compare(
        "v", {"a": float("nan"), "b": float("nan")}, {"a": float("nan"), "b": 0.5}, 1.0, report
    )
    assert [d.what for d in report.differences] == ["v.b"]
    assert report.within_tolerance == []


def test_the_verdict_follows_the_worst_finding() -> None:
    report = _report(0.1)
    assert report.verdict == "identical"
    report.within_tolerance.append(Difference("x", 1, 1.05))
    assert report.verdict == "within_tolerance"
    report.training_set = {"identical": False}
    assert (report.verdict, report.ok) == ("differs", False)
    report.training_set = {"identical": True}
    report.failed = "step 'train' failed"
    assert report.verdict == "differs"
    assert report.to_dict()["verdict"] == "differs"

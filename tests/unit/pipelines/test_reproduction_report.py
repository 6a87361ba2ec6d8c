"""What ``reproduce`` reports and keeps, field by field: the source steps pinned to their
recorded outputs, each output's two hashes, the training set, the code and environment
of both runs, a reproduction that fails, and a version no pipeline made.

test_reproduction.py judges the verdict by the tolerance; this module reads the whole
report and the evidence it leaves (the full mutation run of pipelines.reproduction left
most of those fields unchecked).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.config import Workspace
from modelward.errors import NotFound
from modelward.pipelines import find_pipeline, get_run, load_output, run_pipeline
from modelward.pipelines.reproduction import Difference, reproduce
from modelward.registry import latest_evidence
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS

pytestmark = MLFLOW_WARNINGS

PIPELINES = '''
from pathlib import Path

from modelward.pipelines import Param, StepContext, pipeline, step


@step
def source(data: str) -> list[int]:
    """A snapshot: read once; a reproduction must reuse what it read then."""
    return [int(x) for x in Path(data).read_text().split()]


@step
def training_set(source: list[int]) -> list[int]:
    return sorted(source)


@step
def evaluation(training_set: list[int], noise: str) -> dict:
    wobble = float(Path(noise).read_text())
    return {"overall": {"auc": 0.75 + wobble, "n": len(training_set)}}


@step(side_effects=True)
def register(evaluation: dict, ctx: StepContext) -> str:
    from modelward.registry import runs, versions

    with runs.run("made", session=ctx.session) as run:
        run.log_metrics(evaluation["overall"])
    run.record.lineage["pipeline_run"] = {"id": ctx.run_id, "pipeline": ctx.pipeline}
    artifact = Path(ctx.session.workspace.root) / "artifact"
    artifact.mkdir(exist_ok=True)
    return versions.register(ctx.session, "made", run, model_uri=artifact.as_uri()).ref


made = pipeline(
    "made", [source, training_set, evaluation, register],
    params={"data": Param(str), "noise": Param(str)},
)
'''


@pytest.fixture
def recorded(sqlite_workspace: Workspace) -> Iterator[tuple[Session, Path, str, str]]:
    """``made@1``, from a run that read data "3 1 2" and a noise of 0."""
    root = sqlite_workspace.root
    (root / "pipelines.py").write_text(PIPELINES)
    (root / "data.txt").write_text("3 1 2")
    (root / "noise.txt").write_text("0")
    params = {"data": str(root / "data.txt"), "noise": str(root / "noise.txt")}
    with Session(sqlite_workspace) as session:
        run = run_pipeline(session, find_pipeline(session, "made"), params, executor="inline")
        assert run.ok, run.error
        yield session, root, load_output(session, run, "register"), run.id


def test_a_reproduction_pins_its_sources_and_reports_every_output_code_and_environment(
    recorded: tuple[Session, Path, str, str],
) -> None:
    session, root, ref, run_id = recorded
    (root / "data.txt").write_text("9 9 9 9")  # the outside world moved on
    seen: list[tuple[str, str]] = []
    report = reproduce(
        session, ref, executor="inline", on_event=lambda e: seen.append((e.kind, e.record.step))
    )
    old, new = get_run(session, run_id), get_run(session, report.reproduced_run)
    assert ("finished", "evaluation") in seen  # progress reaches the caller (the CLI's bar)

    assert report.verdict == "identical", report.to_dict()
    assert new.trigger == "reproduce" and new.params == old.params
    assert new.executor == "inline"  # the executor asked for, not the workspace's
    statuses = {s.step: s.status for s in new.steps}
    assert statuses["source"] == "pinned"  # what it read then, not the file as it is now
    assert "cached" not in statuses.values()  # every other step really ran again
    assert [s.step for s in new.steps if s.step == "register"] == []  # side effects not rerun
    for name in ("source", "training_set", "evaluation"):
        assert report.outputs[name] == {
            "recorded": old.outputs[name].hash,
            "reproduced": new.outputs[name].hash,
            "identical": True,
        }
    assert set(report.outputs) == {"source", "training_set", "evaluation"}
    assert report.training_set == report.outputs["training_set"]
    assert report.code == {
        "recorded_git": old.code.get("git"),
        "current_git": new.code.get("git"),
        "same_commit": True,
        "changed_steps": [],
    }
    assert report.environment == {
        "recorded_packages_hash": old.environment.get("packages_hash"),
        "current_packages_hash": new.environment.get("packages_hash"),
        "same": True,
    }
    assert report.environment["recorded_packages_hash"]  # a real lock hash, not None == None
    assert report.to_dict() == {
        "ref": ref,
        "verdict": "identical",
        "recorded_run": run_id,
        "reproduced_run": new.id,
        "tolerance": 0.0,
        "training_set": report.outputs["training_set"],
        "differences": [],
        "within_tolerance": [],
        "outputs": report.outputs,
        "code": report.code,
        "environment": report.environment,
        "failed": None,
    }
    kept = latest_evidence(session, "reproduce", ref)
    assert kept is not None and kept.passed
    assert kept.summary == f"reproduce identical: 0 difference(s), run {new.id}"
    assert kept.detail == {
        "verdict": "identical",
        "recorded_run": run_id,
        "reproduced_run": new.id,
        "differences": [],
        "tolerance": 0.0,
        "failed": None,
    }


def test_a_changed_step_and_a_moved_metric_are_named(
    recorded: tuple[Session, Path, str, str],
) -> None:
    session, root, ref, _ = recorded
    code = (root / "pipelines.py").read_text()
    (root / "pipelines.py").write_text(code.replace("0.75 + wobble", "0.5 + wobble"))
    report = reproduce(session, ref, tolerance=0.01, executor="inline")
    assert report.code["changed_steps"] == ["evaluation"]
    assert report.differences == [Difference("evaluation.overall.auc", 0.75, 0.5)]
    assert report.outputs["evaluation"]["identical"] is False
    assert report.outputs["training_set"]["identical"] is True
    kept = latest_evidence(session, "reproduce", ref)
    assert kept is not None and not kept.passed
    assert kept.detail["differences"] == [
        {"what": "evaluation.overall.auc", "recorded": 0.75, "reproduced": 0.5}
    ]
    assert kept.summary.startswith("reproduce differs: 1 difference(s), run ")


def test_a_reproduction_that_fails_says_why_and_keeps_a_failed_verdict(
    recorded: tuple[Session, Path, str, str],
) -> None:
    session, root, ref, _ = recorded
    (root / "noise.txt").unlink()  # the evaluation step cannot run again
    report = reproduce(session, ref, executor="inline")
    assert report.failed is not None and "noise.txt" in report.failed
    assert (report.verdict, report.ok, report.outputs) == ("differs", False, {})
    kept = latest_evidence(session, "reproduce", ref)
    assert kept is not None and not kept.passed
    assert kept.detail["failed"] == report.failed and kept.detail["verdict"] == "differs"


def test_a_version_no_pipeline_made_cannot_be_reproduced(
    recorded: tuple[Session, Path, str, str],
) -> None:
    from modelward.registry import runs, versions

    session, root, _, _ = recorded
    with runs.run("by-hand", session=session) as run:
        run.log_metrics({"auc": 0.7})
    by_hand = versions.register(session, "by-hand", run, model_uri=(root / "artifact").as_uri())
    with pytest.raises(NotFound) as refused:
        reproduce(session, by_hand.ref, executor="inline")
    assert str(refused.value) == (
        f"{by_hand.ref} was not produced by a pipeline run (its lineage names none); "
        "only pipeline-made versions can be reproduced"
    )
    assert refused.value.details == {"ref": by_hand.ref}


def test_a_bad_tolerance_is_refused_naming_the_field(
    recorded: tuple[Session, Path, str, str],
) -> None:
    from modelward.errors import InputError

    session, _, ref, _ = recorded
    with pytest.raises(InputError) as refused:
        reproduce(session, ref, tolerance=-1.0, executor="inline")
    assert str(refused.value) == "tolerance: must be a number >= 0"
    assert refused.value.details == {"field": "tolerance"}


@pytest.mark.parametrize(
    ("recorded_code", "current_code", "same_commit", "changed"),
    [
        (
            {"git": {"commit": "a1"}, "steps": {"s": "h1"}},
            {"git": {"commit": "a1"}, "steps": {"s": "h1"}},
            True,
            [],
        ),
        (
            {"git": {"commit": "a1"}, "steps": {"s": "h1"}},
            {"git": {"commit": "b2"}, "steps": {"s": "h2"}},
            False,
            ["s"],
        ),
        ({"steps": {"s": "h1"}}, {"git": {"commit": "b2"}, "steps": {"s": "h1"}}, False, []),
        (
            {"git": {"commit": "a1"}},
            {"git": {"commit": "a1"}, "steps": {"t": "h", "s": "h"}},
            True,
            ["s", "t"],
        ),
        ({"git": {"commit": "a1"}, "steps": {"s": "h1"}}, {"git": {"commit": "a1"}}, True, []),
    ],
    ids=[
        "same",
        "other commit and step",
        "recorded outside git",
        "no recorded steps",
        "no steps now",
    ],
)
def test_the_code_section_compares_commits_and_step_hashes(
    recorded_code: dict[str, object],
    current_code: dict[str, object],
    same_commit: bool,
    changed: list[str],
) -> None:
    from types import SimpleNamespace

    from modelward.pipelines.reproduction import _code

    code = _code(SimpleNamespace(code=recorded_code), SimpleNamespace(code=current_code))  # type: ignore[arg-type]
    assert code == {
        "recorded_git": recorded_code.get("git"),
        "current_git": current_code.get("git"),
        "same_commit": same_commit,
        "changed_steps": changed,
    }


SPLIT_STEP = """

@step
def split_manifest(training_set: list[int], noise: str) -> dict:
    return {"rows": len(training_set), "cut": 0.5 + float(Path(noise).read_text())}
"""


def test_a_step_added_since_has_no_recorded_output_and_a_moved_split_is_named(
    recorded: tuple[Session, Path, str, str],
) -> None:
    session, root, ref, _ = recorded
    code = (root / "pipelines.py").read_text()
    with_split = code.replace("\n\nmade = pipeline(", SPLIT_STEP + "\n\nmade = pipeline(").replace(
        "[source, training_set, evaluation, register]",
        "[source, training_set, split_manifest, evaluation, register]",
    )
    (root / "pipelines.py").write_text(with_split)
    added = reproduce(session, ref, executor="inline")
    assert added.outputs["split_manifest"]["recorded"] is None  # no such step back then
    assert added.outputs["split_manifest"]["identical"] is False
    assert added.differences == [] and added.verdict == "identical"

    # recorded again with the split step, then the noise moves both the split and the AUC
    from modelward.pipelines import find_pipeline, load_output, run_pipeline

    params = {"data": str(root / "data.txt"), "noise": str(root / "noise.txt")}
    run = run_pipeline(
        session, find_pipeline(session, "made"), params, executor="inline", use_cache=False
    )
    assert run.ok, run.error
    again = load_output(session, run, "register")
    assert again == "made@2"
    (root / "noise.txt").write_text("0.25")
    moved = reproduce(session, again, executor="inline")
    assert moved.differences == [
        Difference("split_manifest.cut", 0.5, 0.75),
        Difference("evaluation.overall.auc", 0.75, 1.0),
    ]


def test_the_evidence_keeps_the_first_twenty_differences(
    recorded: tuple[Session, Path, str, str],
) -> None:
    from modelward.pipelines.reproduction import ReproduceReport, _recorded

    session, _, ref, _ = recorded
    report = ReproduceReport(ref, "a", "b", 0.0)
    report.differences = [Difference(f"m{i}", i, i + 1) for i in range(25)]
    _recorded(session, report)
    kept = latest_evidence(session, "reproduce", ref)
    assert kept is not None
    assert [d["what"] for d in kept.detail["differences"]] == [f"m{i}" for i in range(20)]
    assert kept.summary == "reproduce differs: 25 difference(s), run b"

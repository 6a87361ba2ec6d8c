"""The churn example end to end on the local executor: the issue's "done when".

One workspace for the module (the pipeline is the expensive part): run, rerun from the
cache, registered lineage, the evaluation report, reproduce; and a broken export that the
contract refuses in a workspace of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from modelward.config import Workspace, init_workspace
from modelward.examples import HISTORY_AS_OF, prepare_example, write_churn_data
from modelward.pipelines import PipelineRun, find_pipeline, load_output, run_pipeline
from modelward.pipelines.reproduction import reproduce
from modelward.session import Session

# one worker builds the module's churn run once (about a minute), rather than each worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipelines-churn")]
ENV = {"MODELWARD_IDENTITY__USER": "tester"}


def _workspace(root: Path, **data: int) -> Session:
    init_workspace(root, project="churn")
    prepare_example(root, customers=1_000, **data)
    return Session(Workspace.open(root, environ=ENV))


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, PipelineRun]]:
    session = _workspace(tmp_path_factory.mktemp("churn") / "ws")
    run = run_pipeline(session, find_pipeline(session, "churn"), executor="local")
    yield session, run
    session.close()


def test_example_runs_locally_and_registers_with_full_lineage(
    churn: tuple[Session, PipelineRun],
) -> None:
    from modelward.registry import get_version

    session, run = churn
    assert run.ok, run.error
    assert [s.step for s in run.steps] == [
        "extract",
        "validate",
        "features",
        "split",
        "train_baseline",
        "train_challenger",
        "champion",
        "evaluate",
        "register",
    ]
    assert all(s.cpu_seconds and s.peak_memory_bytes and s.wall_seconds for s in run.steps)
    registered = load_output(session, run, "register")
    version = get_version(session, registered["version"])
    lineage = version.lineage
    assert lineage["pipeline_run"]["id"] == run.id
    assert {d["name"] for d in lineage["datasets"]} == {"labels", "activity"}
    assert [f["name"] for f in lineage["feature_views"]] == ["activity"]
    assert lineage["split"]["logic"].startswith("time-based")
    assert lineage["metrics"]["overall"]["roc_auc"] > 0.7
    assert lineage["metrics"]["overall"]["acceptance_passed"] == 1.0  # no champion yet
    assert {"plan:basic", "region:latam"} <= set(lineage["metrics"]["segments"])
    # the workspace is no git repository: the only unknown item of the lineage
    assert set(version.lineage_missing) <= {"git commit"}
    # the reference monitoring compares windows with: training rows, held-out predictions,
    # the model's importance; the lineage names it by digest
    from modelward.monitoring import get_profile, profile_digest

    reference = get_profile(session, version.model_name, version.version)
    assert lineage["reference_profile"]["digest"] == profile_digest(reference)
    assert set(reference.features) == set(lineage["model_inputs"])
    assert reference.prediction is not None and 0 < reference.prediction.mean < 1
    assert abs(sum(reference.importance.values()) - 1) < 1e-9


def test_split_is_stored_and_rows_identified(churn: tuple[Session, PipelineRun]) -> None:
    session, run = churn
    manifest = load_output(session, run, "split_manifest")
    train, test = load_output(session, run, "train"), load_output(session, run, "test")
    assert (manifest["train_rows"], manifest["test_rows"]) == (train.num_rows, test.num_rows)
    assert manifest["identified_by"] == ["customer_id", "event_timestamp"]
    # time-based: nothing in training is later than the test period
    assert max(train.column("event_timestamp").to_pylist()) < min(
        test.column("event_timestamp").to_pylist()
    )


def test_evaluation_report_and_golden_set_are_written(churn: tuple[Session, PipelineRun]) -> None:
    session, run = churn
    evaluation = load_output(session, run, "evaluation")
    assert set(evaluation["candidates"]) == {"baseline", "challenger"}
    assert evaluation["candidates"]["challenger"]["calibration"]["ece"] >= 0
    assert len(evaluation["golden_set"]["rows"]) == len(evaluation["golden_set"]["expected"]) > 0
    report = load_output(session, run, "report")
    page = Path(report["html"]).read_text()
    assert "<svg" in page and "plan=basic" in page and "Acceptance policy" in page
    assert Path(report["json"]).is_file()


def test_rerun_hits_the_cache_and_registers_nothing_new(
    churn: tuple[Session, PipelineRun],
) -> None:
    session, first = churn
    again = run_pipeline(session, find_pipeline(session, "churn"), executor="local")
    assert again.ok
    cached = [s.step for s in again.steps if s.status == "cached"]
    assert cached == [s.step for s in first.steps if s.step != "extract"]
    assert load_output(session, again, "register") == load_output(session, first, "register")
    assert again.outputs["training_set"] == first.outputs["training_set"]


def test_reproduce_reports_identical_results(churn: tuple[Session, PipelineRun]) -> None:
    session, run = churn
    ref = load_output(session, run, "register")["version"]
    report = reproduce(session, ref, executor="local")
    assert report.verdict == "identical", report.to_dict()
    assert report.training_set["identical"]
    assert report.differences == [] and report.within_tolerance == []


def test_contract_violation_stops_the_run_fail_closed(tmp_path: Path) -> None:
    session = _workspace(tmp_path / "ws")
    write_churn_data(session.workspace.root / "data", customers=1_000, broken=True)
    with session:
        run = run_pipeline(session, find_pipeline(session, "churn"), executor="local")
    assert run.status == "failed"
    statuses = {s.step: s.status for s in run.steps}
    assert statuses["validate"] == "failed"
    assert {statuses[s] for s in ("features", "split", "evaluate", "register")} == {"skipped"}
    failed = run.step("validate")
    assert failed.error is not None and "activity" in failed.error
    report = failed.error_details["details"]["report"]["activity"]  # type: ignore[index]
    broken = {r["rule"] for r in report["results"] if not r["passed"]}
    assert {"columns.support_tickets.min", "columns.plan.allowed_values"} <= broken


def test_acceptance_result_drives_the_registry_gate(churn: tuple[Session, PipelineRun]) -> None:
    from modelward.pipelines import StepContext
    from modelward.pipelines.template import request_promotion
    from modelward.registry import get_version
    from modelward.registry.lifecycle import set_approval_policy, set_gate_policy
    from modelward.security.roles import Principal, Role
    from modelward.security.tokens import bootstrap_admin

    session, run = churn
    registered = load_output(session, run, "register")
    bootstrap_admin(session)  # the workspace token the release hook acts with
    admin = Principal("tester", Role.ADMIN)
    gate = {"type": "metric_above", "metric": "acceptance_passed", "threshold": 0.5}
    set_gate_policy(session, admin, "churn", "Staging", [gate])
    hook = request_promotion("Staging")
    ctx = StepContext(run.id, "churn", "release", Path("."), _session_factory=lambda: session)
    set_approval_policy(session, admin, "churn", "Staging", 1)
    waiting = hook(ctx, registered)
    assert waiting["promoted"] is False and "approvals: 0 of 1" in waiting["reason"]
    set_approval_policy(session, admin, "churn", "Staging", 0)
    moved = hook(ctx, registered)
    assert moved["promoted"] is True
    assert moved["gates"][0]["passed"] is True and moved["gates"][0]["evidence"]["value"] == 1.0
    assert get_version(session, registered["version"]).stage == "Staging"
    rejected = hook(ctx, {**registered, "accepted": False})
    assert rejected["promoted"] is False and "rejected" in rejected["reason"]


def test_fairness_is_reported_and_business_gates_judge_the_version(
    churn: tuple[Session, PipelineRun],
) -> None:
    from modelward.errors import CheckFailed
    from modelward.registry import get_version
    from modelward.registry.lifecycle import set_gate_policy, transition
    from modelward.security.roles import Principal, Role

    session, run = churn
    evaluation = load_output(session, run, "evaluation")
    region = evaluation["candidates"]["challenger"]["fairness"]["region"]
    assert set(region["overall"]["groups"]) == {"na", "eu", "apac", "latam"}
    assert {"plan=basic", "plan=pro"} <= set(region["segments"])
    page = Path(load_output(session, run, "report")["html"]).read_text()
    assert "<h2>Fairness</h2>" in page and "selection-rate ratio" in page
    version = get_version(session, load_output(session, run, "register")["version"])
    assert version.lineage["model_inputs"][:2] == ["plan", "region"]
    assert "fairness.region.selection_rate_ratio" in version.lineage["metrics"]["overall"]
    boss = Principal("root", Role.ADMIN)
    # a protected attribute among the inputs: refused, naming it
    set_gate_policy(
        session,
        boss,
        "churn",
        "Production",
        [
            {"type": "forbidden_inputs", "features": ["region", "email"]},
            {"type": "fairness", "attribute": "region", "max_true_positive_rate_difference": 0.9},
        ],
    )
    with pytest.raises(CheckFailed) as refused:
        transition(session, boss, version.ref, "Production", reason="try")
    assert "forbidden_inputs: the model reads forbidden input(s) region" in refused.value.message
    assert "fairness:" not in refused.value.message  # the parity itself passed
    set_gate_policy(session, boss, "churn", "Production", [{"type": "lineage_complete"}])


def test_a_newer_snapshot_taken_meanwhile_is_not_read_by_a_rerun(
    churn: tuple[Session, PipelineRun], tmp_path: Path
) -> None:
    """The defect of issue 16: SnapshotSource("activity") read the latest snapshot at join
    time, so a rerun trained on a snapshot its extract step never took."""
    from modelward.data import snapshot

    session, first = churn
    later = write_churn_data(tmp_path, customers=1_000, months=13)[0]
    newer = snapshot(later, name="activity", session=session)  # someone else's, meanwhile
    assert newer.version == 2
    again = run_pipeline(session, find_pipeline(session, "churn"), executor="local")
    assert again.ok, again.error
    assert [s.step for s in again.steps if s.status != "cached"] == ["extract"]
    lineage = load_output(session, again, "feature_lineage")
    assert {d["name"]: d["version"] for d in lineage["datasets"]} == {"labels": 1, "activity": 1}
    inputs = load_output(session, again, "inputs")
    assert inputs["snapshots"] == {
        "activity": load_output(session, first, "extract")["activity"]["id"]
    }
    assert load_output(session, again, "register") == load_output(session, first, "register")


def test_new_data_retrains_and_registers_a_new_version(
    churn: tuple[Session, PipelineRun],
) -> None:
    session, first = churn
    write_churn_data(session.workspace.root / "data", customers=1_000, months=13)
    as_of = (HISTORY_AS_OF + timedelta(days=30)).isoformat()
    later = run_pipeline(
        session, find_pipeline(session, "churn"), {"as_of": as_of}, executor="local"
    )
    assert later.ok, later.error
    ran = {s.step: s.status for s in later.steps}
    assert ran["train_baseline"] == ran["train_challenger"] == ran["register"] == "succeeded"
    registered = load_output(session, later, "register")
    assert registered["reused"] is False
    assert registered["version"] != load_output(session, first, "register")["version"]

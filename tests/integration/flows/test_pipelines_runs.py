"""Pipeline runs on SQLite and Postgres: records, cache, failures, resume, immutability."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from modelward.config import Workspace
from modelward.pipelines import get_run, list_runs, load_output, run_pipeline
from modelward.pipelines.tables import pipeline_runs, pipeline_steps
from modelward.security.audit import entries, verify
from modelward.session import Session
from modelward.store import metadata
from tests.unit.pipelines import sample


@pytest.fixture
def session(workspace: Workspace) -> Session:
    s = Session(workspace)
    yield s  # type: ignore[misc]
    s.close()


def test_schema_matches_the_migration(session: Session) -> None:
    import importlib

    for module in (
        "modelward.data.tables",
        "modelward.security.tables",
        "modelward.registry.tables",
        "modelward.features.tables",
        "modelward.pipelines.tables",
    ):
        importlib.import_module(module)
    with session.store.read() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), metadata
        )
    pipeline_diff = [d for d in diff if "pipeline" in repr(d) or "schedule" in repr(d)]
    assert pipeline_diff == []


def test_run_records_params_code_environment_and_outputs(session: Session) -> None:
    run = run_pipeline(session, sample.arith, {"n": 5}, executor="inline")
    assert run.ok, run.error
    assert [s.status for s in run.steps] == ["succeeded"] * 3
    assert load_output(session, run, "total") == {"evens": 20.0, "odds": 10.0}
    stored = get_run(session, run.id[:10])
    assert stored.params == {"n": 5, "scale": 1.0}
    assert stored.code["definition_hash"] == sample.arith.definition_hash
    assert set(stored.code["git"]) == {"commit", "dirty"}
    assert stored.environment["packages_hash"].startswith("sha256:")
    split = stored.step("split")
    assert split.input_hashes == {"numbers": stored.step("numbers").outputs["numbers"].hash}
    assert set(split.outputs or {}) == {"evens", "odds"}
    assert all(s.wall_seconds is not None and s.cpu_seconds is not None for s in stored.steps)
    with session.store.read() as conn:
        actions = [e.action for e in entries(conn, target=f"pipeline-run:{run.id}")]
        assert actions == ["pipeline.run.started", "pipeline.run.finished"]
        assert verify(conn).ok


def test_rerun_hits_the_cache_and_gives_the_same_outputs(session: Session) -> None:
    first = run_pipeline(session, sample.arith, {"n": 6}, executor="inline")
    again = run_pipeline(session, sample.arith, {"n": 6}, executor="inline")
    assert again.cache_hits == 3
    assert again.outputs == first.outputs
    other = run_pipeline(session, sample.arith, {"n": 6, "scale": 2.0}, executor="inline")
    # only the step reading `scale` runs again
    assert [s.status for s in other.steps] == ["cached", "cached", "succeeded"]
    fresh = run_pipeline(session, sample.arith, {"n": 6}, executor="inline", use_cache=False)
    assert fresh.cache_hits == 0
    assert fresh.outputs == first.outputs


def test_failing_step_stops_the_run_and_keeps_the_traceback(session: Session) -> None:
    run = run_pipeline(session, sample.failing, executor="inline")
    assert run.status == "failed"
    assert [s.status for s in run.steps] == ["succeeded", "failed", "skipped"]
    stored = get_run(session, run.id)
    boom = stored.step("boom")
    assert boom.error == "ValueError: no good: 3 values"
    assert boom.traceback is not None and "raise ValueError" in boom.traceback
    assert stored.error is not None and "step 'boom' failed" in stored.error
    assert list_runs(session, "failing")[0].id == run.id


def test_finished_records_cannot_be_edited(session: Session) -> None:
    run = run_pipeline(session, sample.arith, {"n": 3}, executor="inline")
    for stmt in (
        update(pipeline_runs).where(pipeline_runs.c.id == run.id).values(status="failed"),
        update(pipeline_steps).where(pipeline_steps.c.run_id == run.id).values(error="x"),
        delete(pipeline_steps).where(pipeline_steps.c.run_id == run.id),
        delete(pipeline_runs).where(pipeline_runs.c.id == run.id),
    ):
        with (
            pytest.raises(DBAPIError, match="immutable once finished"),
            session.store.transaction() as conn,
        ):
            conn.execute(stmt)
    assert get_run(session, run.id).status == "succeeded"


@pytest.mark.parametrize("fork_server", [True, False], ids=["fork-server", "new-interpreter"])
def test_local_executor_records_cost_per_step_and_resumes_after_a_kill(
    session: Session, tmp_path: Path, fork_server: bool
) -> None:
    from modelward.pipelines.executors.local import LocalExecutor

    marker = str(tmp_path / "killed-once")
    local = LocalExecutor(fork_server=fork_server)
    run = run_pipeline(session, sample.killable, {"marker": marker}, executor=local)
    assert run.status == "failed"
    assert [s.status for s in run.steps] == ["succeeded", "failed", "skipped"]
    killed = run.step("fragile")
    assert killed.error is not None and "killed by signal 9 (SIGKILL)" in killed.error
    first = run.step("first")
    assert first.peak_memory_bytes and first.peak_memory_bytes > 1_000_000
    assert first.cpu_seconds is not None and first.cpu_seconds > 0
    assert first.wall_seconds is not None and first.wall_seconds >= first.cpu_seconds / 4

    resumed = run_pipeline(session, sample.killable, {"marker": marker}, executor=local)
    local.close()
    assert resumed.ok, resumed.error
    assert resumed.resumed_from == run.id
    assert [s.status for s in resumed.steps] == ["cached", "succeeded", "succeeded"]
    assert load_output(session, resumed, "last") == 60


_DRIVER = """
import sys
from modelward.config import Workspace
from modelward.pipelines import run_pipeline
from modelward.session import Session
from tests.unit.pipelines import sample
root, url, release, started = sys.argv[1:5]
env = {"MODELWARD_IDENTITY__USER": "tester"} | ({"MODELWARD_DATABASE_URL": url} if url else {})
with Session(Workspace.open(root, environ=env)) as s:
    run_pipeline(s, sample.blocking, {"release": release, "started": started}, executor="local")
"""


def test_run_whose_driver_was_killed_is_marked_interrupted_and_resumed(
    session: Session, workspace_env: dict[str, str], tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    release, started = tmp_path / "release", tmp_path / "started"
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _DRIVER,
            str(session.workspace.root),
            workspace_env.get("MODELWARD_DATABASE_URL", ""),
            str(release),
            str(started),
        ],
        cwd=Path(__file__).resolve().parents[3],
        start_new_session=True,  # its step worker is killed with it, as a crash would
    )
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline, "the step never started"
        assert driver.poll() is None, "the driver exited early"
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    killed = list_runs(session, "blocking")[0]
    assert killed.status == "running"  # what a crash leaves behind

    release.write_text("go")
    params = {"release": str(release), "started": str(started)}
    resumed = run_pipeline(session, sample.blocking, params, executor="inline")
    assert resumed.ok and resumed.resumed_from == killed.id
    assert [s.status for s in resumed.steps] == ["cached", "succeeded"]
    old = get_run(session, killed.id)
    assert old.status == "interrupted" and "died" in (old.error or "")
    assert [s.status for s in old.steps] == ["succeeded", "failed"]


def test_step_over_its_time_limit_is_killed_and_named(session: Session, tmp_path: Path) -> None:
    from modelward.pipelines.executors.local import LocalExecutor

    params = {"release": str(tmp_path / "never"), "started": str(tmp_path / "started")}
    run = run_pipeline(session, sample.blocking, params, executor=LocalExecutor(timeout_s=1))
    assert run.status == "failed"
    step = run.step("wait_for_release")
    assert step.error == "StepTimeout: the step ran longer than 1 s and was killed"
    # killed, not released: the step started and was never let go
    assert (tmp_path / "started").exists() and not (tmp_path / "never").exists()


def test_pipeline_defined_inside_a_function_cannot_go_to_worker_processes(
    session: Session,
) -> None:
    from modelward.errors import InputError
    from modelward.pipelines import pipeline, step

    @step
    def one() -> int:
        return 1

    local = pipeline("local-only", [one])
    with pytest.raises(InputError, match="define it at module level"):
        run_pipeline(session, local, executor="local")
    assert run_pipeline(session, local, executor="inline").ok  # in-process is fine
    assert [r.pipeline for r in list_runs(session)] == ["local-only"]  # nothing else recorded

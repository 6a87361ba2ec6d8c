"""The Ray executor on one local Ray instance (started once for this module)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelward.config import Workspace
from modelward.errors import ConfigError
from modelward.pipelines import load_output, run_pipeline
from modelward.pipelines.executors.base import open_executor
from modelward.session import Session
from tests import services
from tests.unit.pipelines import sample

# the module's local Ray instance starts once, on the worker that runs every Ray test
pytestmark = pytest.mark.xdist_group("ray")


def _ray() -> Any:
    """Ray, or a skip with the reason (a failure under CI=true: CI must test Ray)."""
    try:
        import ray
    except ImportError:
        message = "Ray is an optional extra: pip install 'modelward[ray]'"
        if services.in_ci():
            pytest.fail(f"{message}; CI=true forbids skipping the Ray executor tests")
        pytest.skip(message)
    return ray


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[object]:
    ray = _ray()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def test_same_pipeline_runs_on_ray_with_the_same_results(
    ray_instance: object, session: Session
) -> None:
    on_ray = run_pipeline(session, sample.arith, {"n": 7}, executor="ray")
    assert on_ray.ok, on_ray.error
    assert on_ray.executor == "ray"
    assert all(s.cpu_seconds is not None and s.peak_memory_bytes for s in on_ray.steps)
    local = run_pipeline(session, sample.arith, {"n": 7}, executor="inline", use_cache=False)
    assert local.outputs == on_ray.outputs
    assert load_output(session, on_ray, "total") == {"evens": 56.0, "odds": 35.0}
    failed = run_pipeline(session, sample.failing, executor="ray")
    assert failed.status == "failed"
    assert failed.step("boom").error == "ValueError: no good: 3 values"


def test_unreachable_cluster_is_a_clear_error_without_hanging() -> None:
    _ray()
    # the connect timeout ends the attempt with an error naming the address (a hang would
    # be caught by pytest-timeout, never by a clock in the test)
    with pytest.raises(ConfigError, match=r"Ray cluster at '127.0.0.1:9' is not reachable"):
        open_executor({"type": "ray", "address": "127.0.0.1:9", "connect_timeout_s": 2})


def test_ray_not_installed_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, session: Session
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray sees
    with pytest.raises(ConfigError, match=r"pip install 'modelward\[ray\]'"):
        run_pipeline(session, sample.arith, executor={"type": "ray"})


def test_unknown_executor_type_is_named(session: Session, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown executor 'spark'"):
        run_pipeline(session, sample.arith, executor="spark")


@pytest.mark.slow
def test_churn_example_runs_on_ray(ray_instance: object, tmp_path: Path) -> None:
    from modelward.config import init_workspace
    from modelward.examples import prepare_example
    from modelward.pipelines import find_pipeline

    root = init_workspace(tmp_path / "ws", project="churn")
    prepare_example(root, customers=1_000)
    with Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "t"})) as s:
        churn = find_pipeline(s, "churn")
        run = run_pipeline(s, churn, executor="ray", targets=["evaluate"])
        assert run.ok, run.error
        assert run.executor == "ray" and "register" not in {st.step for st in run.steps}
        evaluation = load_output(s, run, "evaluation")
        assert set(evaluation["candidates"]) == {"baseline", "challenger"}

"""One suite for every pipeline executor: inline (in process), local (worker processes)
and Ray (a local Ray instance, started once for this module).

Each backend runs the same pipelines and must give the same outputs, record each step's
outcome the same way, and report a step that raises as a failed step naming the error,
never as an exception of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from modelward.config import Workspace
from modelward.errors import ConfigError
from modelward.pipelines import load_output, run_pipeline
from modelward.pipelines.executors.base import open_executor
from modelward.session import Session
from tests import services
from tests.unit.pipelines import sample

# the Ray instance starts once, on the worker that runs the Ray tests
pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[object]:
    try:
        import ray
    except ImportError:
        message = "Ray is an optional extra: pip install 'modelward[ray]'"
        if services.in_ci():
            pytest.fail(f"{message}; CI=true forbids skipping the Ray executor tests")
        pytest.skip(message)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(params=["inline", "local", "ray"])
def executor(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_instance")
    return str(request.param)


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def test_every_executor_gives_the_same_outputs_and_records_each_step(
    session: Session, executor: str
) -> None:
    run = run_pipeline(session, sample.arith, {"n": 7}, executor=executor, use_cache=False)
    assert run.ok, run.error
    assert run.executor == executor
    assert {s.step: s.status for s in run.steps} == dict.fromkeys(
        ("numbers", "split", "total"), "succeeded"
    )
    assert load_output(session, run, "total") == {"evens": 56.0, "odds": 35.0}
    assert all(s.wall_seconds is not None and s.wall_seconds >= 0 for s in run.steps)


def test_a_step_that_raises_is_a_failed_step_and_what_needs_it_does_not_run(
    session: Session, executor: str
) -> None:
    run = run_pipeline(session, sample.failing, executor=executor, use_cache=False)
    assert run.status == "failed"
    assert run.step("boom").status == "failed"
    assert run.step("boom").error == "ValueError: no good: 3 values"
    assert run.step("boom_source").status == "succeeded"
    assert "after_boom" not in {s.step for s in run.steps if s.status == "succeeded"}


def test_outputs_are_the_same_whichever_executor_wrote_them(
    session: Session, executor: str
) -> None:
    reference = run_pipeline(session, sample.arith, {"n": 5}, executor="inline", use_cache=False)
    other = run_pipeline(session, sample.arith, {"n": 5}, executor=executor, use_cache=False)
    assert other.outputs == reference.outputs


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"type": "inline", "workers": 3}, "pipelines.executor (inline)"),
        ({"type": "local", "no_such_option": 1}, "pipelines.executor (local)"),
    ],
)
def test_an_option_a_backend_does_not_take_names_the_setting(
    config: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)) as info:
        open_executor(config)
    assert info.value.details["field"] == "pipelines.executor"

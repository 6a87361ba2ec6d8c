"""Releases as read back from the metadata store, on SQLite and Postgres: the current release of
an endpoint, or how to start one, and the newest release deciding the traffic plan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from modelward import rollout
from modelward.config import Workspace
from modelward.errors import Conflict, NotFound
from modelward.rollout import RolloutPolicy, Strategy
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.rollout.support import Setup, setup

pytestmark = MLFLOW_WARNINGS


T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def w(workspace: Workspace) -> Iterator[Setup]:
    made = setup(workspace)
    yield made
    made.session.close()


def _start(w: Setup, strategy: str = "canary", **kw: object) -> rollout.Release:
    return rollout.start_release(
        w.session,
        w.operator,
        endpoint="churn",
        baseline=w.baseline,
        candidate=w.candidate,
        strategy=strategy,
        now=T0,
        **kw,  # type: ignore[arg-type]
    )


def test_an_endpoint_without_a_release_says_how_to_start_one(w: Setup) -> None:
    with pytest.raises(NotFound, match="modelward rollout start churn"):
        rollout.current_release(w.session, "churn")
    assert rollout.current_plans(w.session) == {}


def test_a_shadow_release_mirrors_and_has_no_steps(w: Setup) -> None:
    release = _start(w, strategy="shadow", policy=RolloutPolicy(shadow_percent=50))
    assert release.strategy is Strategy.SHADOW and release.weight == 0
    assert release.plan().shadow_percent == 50
    with pytest.raises(Conflict, match="promote or abort"):
        rollout.advance(w.session, w.operator, "churn")


def test_the_newest_release_decides_the_plan(w: Setup) -> None:
    _start(w)
    rollout.promote(w.session, w.operator, "churn")
    assert rollout.current_plans(w.session)["churn"].plan.baseline == w.candidate
    _start(w, strategy="shadow")
    assert rollout.current_plans(w.session)["churn"].live
    rollout.abort(w.session, w.operator, "churn")
    assert "churn" not in rollout.current_plans(w.session)  # not the older promotion

"""Promotion from live evidence: ``promote_on_evidence`` (``rollout promote --ci``)
promotes only on a passing analysis, and the ``release_analysis`` stage-policy gate
(plugged in through the ``modelward.gates`` entry point) reads the same verdict."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward import rollout
from modelward.config import Workspace
from modelward.errors import ConfigError
from modelward.monitoring import PredictionSink, open_workspace_log
from modelward.registry import GateContext, get_version
from modelward.registry.gates import build_gates
from modelward.rollout import RolloutPolicy
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.rollout.support import Setup, setup
from tests.unit.rollout.traffic import BAD, GOOD, Behaviour, serve_release

pytestmark = MLFLOW_WARNINGS
POLICY = RolloutPolicy(steps=[20, 50], min_sample=200)


@pytest.fixture
def w(sqlite_workspace: Workspace) -> Iterator[Setup]:
    made = setup(sqlite_workspace)
    yield made
    made.session.close()


@pytest.fixture
def log(w: Setup) -> Iterator[PredictionSink]:
    """The workspace's own prediction log: the one the gate reads."""
    opened = open_workspace_log(w.session)
    yield opened
    opened.close()


def _canary(w: Setup, log: PredictionSink, n: int, candidate: Behaviour, seed: int) -> None:
    release = rollout.start_release(
        w.session,
        w.operator,
        endpoint="churn",
        baseline=w.baseline,
        candidate=w.candidate,
        strategy="canary",
        policy=POLICY,
    )
    start = int(release.step_started_at.timestamp() * 1_000_000) + 1
    log.write(serve_release(release, n, seed=seed, candidate=candidate, start_us=start))


def _gate(w: Setup, **params: object) -> tuple[bool, str]:
    (gate,) = build_gates([{"type": "release_analysis", "endpoint": "churn", **params}])
    context = GateContext(
        get_version(w.session, w.candidate), None, "Production", session=w.session
    )
    result = gate.evaluate(context)
    return result.passed, result.message


def test_a_passing_analysis_promotes_and_the_gate_passes(w: Setup, log: PredictionSink) -> None:
    _canary(w, log, 1_500, GOOD, seed=21)
    assert _gate(w)[0]
    passed, message = _gate(w, max_p95_ms=1.0)  # the candidate's p95 is ~40 ms
    assert not passed and "p95 latency" in message and "above 1 ms" in message
    verdict = rollout.promote_on_evidence(w.session, w.operator, "churn", log)
    assert verdict.passed and verdict.promoted is not None
    assert verdict.promoted.state == "promoted"
    assert _gate(w)[0]  # a promoted release's last step still passes


def test_a_failing_or_thin_analysis_changes_nothing_and_the_gate_fails(
    w: Setup, log: PredictionSink
) -> None:
    _canary(w, log, 1_500, BAD["5% errors"], seed=22)
    verdict = rollout.promote_on_evidence(w.session, w.operator, "churn", log)
    assert verdict.analysis.verdict == "fail" and verdict.promoted is None
    assert rollout.current_release(w.session, "churn").state == "running"
    passed, message = _gate(w)
    assert not passed and "analysis fail" in message
    rollout.abort(w.session, w.operator, "churn")
    passed, message = _gate(w)
    assert not passed and "was aborted" in message
    _canary(w, log, 100, GOOD, seed=23)  # below the minimum sample
    verdict = rollout.promote_on_evidence(w.session, w.operator, "churn", log)
    assert verdict.analysis.verdict == "inconclusive" and verdict.promoted is None


def test_the_gate_needs_a_release_and_names_a_bad_parameter(w: Setup) -> None:
    passed, message = _gate(w)
    assert not passed and "has had no release on churn" in message
    with pytest.raises(ConfigError, match="max_p95_ms: expected a number >= 0"):
        build_gates([{"type": "release_analysis", "endpoint": "churn", "max_p95_ms": "fast"}])
    with pytest.raises(ConfigError, match="endpoint: the endpoint"):
        build_gates([{"type": "release_analysis"}])

"""The readiness gate: all seven answers yes by default, a chosen subset when the policy names
it, an unknown question refused naming the policy entry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.errors import ConfigError
from modelward.readiness import ReadinessGate
from modelward.registry import (
    GateContext,
    get_version,
    set_owner,
)
from modelward.registry.gates.base import GATES, build_gates
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, admin, placeholder_version

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def local(sqlite_workspace: Workspace) -> Iterator[Session]:
    """On the embedded store only: for what reads them (the same queries)."""
    with Session(sqlite_workspace) as opened:
        yield opened


def test_the_readiness_gate_requires_all_yes_by_default(local: Session) -> None:
    placeholder_version(local, "churn")
    set_owner(local, admin(local), "churn", owner="risk-team", on_call="pager:risk")
    context = GateContext(get_version(local, "churn@1"), None, "Production", local)
    strict = ReadinessGate().evaluate(context)
    assert not strict.passed and "reproducible no" in strict.message
    assert strict.evidence["answers"][6]["answer"] == "yes"
    [owner_only] = build_gates([{"type": "readiness", "require": ["owner"]}])
    assert owner_only.evaluate(context).passed
    assert "readiness" in GATES.types()  # plugged in through the modelward.gates entry point
    with pytest.raises(ConfigError) as info:
        build_gates([{"type": "readiness", "require": ["owner", "vibes"]}])
    assert "vibes" in info.value.message and info.value.details["field"] == "gate_policy[0]"
    without = GateContext(get_version(local, "churn@1"), None, "Production")
    assert not ReadinessGate().evaluate(without).passed

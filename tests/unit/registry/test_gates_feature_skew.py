"""The feature-skew promotion gate: configured with the view it checks (refused without),
failing closed without the transition's workspace, and checking that workspace's view."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.config import Workspace
from modelward.errors import ConfigError
from modelward.registry.gates.base import GateContext, build_gates, evaluate_all
from modelward.session import Session
from tests.unit.features.support import write_stats

DEFINITIONS = """
from pathlib import Path
from tests.unit.features.support import make_stats_view
stats = make_stats_view(Path(__file__).parent / "driver_stats.parquet")
"""


def test_a_gate_without_a_view_is_refused_naming_its_policy_entry() -> None:
    with pytest.raises(
        ConfigError, match=r"gate_policy\[0\]: gate 'feature_skew': view: the feature view"
    ) as info:
        build_gates([{"type": "feature_skew", "sample": 10}])
    assert info.value.details["field"] == "gate_policy[0]"
    with pytest.raises(ConfigError, match=r"gate_policy\[0\]: gate 'feature_skew'"):
        build_gates([{"type": "feature_skew", "view": "stats", "samples": 10}])  # a typo


def test_without_the_transitions_workspace_the_gate_fails_closed() -> None:
    (gate,) = build_gates([{"type": "feature_skew", "view": "driver_stats"}])
    context = GateContext(None, None, "Production")  # type: ignore[arg-type]
    (result,) = evaluate_all([gate], context)
    assert not result.passed
    assert result.message == "feature_skew needs the session of the transition"


def test_the_gate_checks_the_view_of_the_transitions_workspace(
    sqlite_workspace: Workspace,
) -> None:
    root = sqlite_workspace.root
    write_stats(root / "driver_stats.parquet")
    (root / "features.py").write_text(DEFINITIONS)
    (gate,) = build_gates([{"type": "feature_skew", "view": "driver_stats", "sample": 5}])
    with Session(sqlite_workspace) as session:
        (result,) = evaluate_all([gate], GateContext(None, None, "Production", session))  # type: ignore[arg-type]
    # nothing materialized yet: no entity online, so nothing differs
    assert result.passed, result.message
    assert result.message.startswith("driver_stats: skew within 0.00% over 0 entities")
    assert result.evidence["workspace"] == str(root)
    assert result.evidence["view"] == "driver_stats"


def test_an_unknown_view_fails_the_gate_naming_it(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    root = sqlite_workspace.root
    write_stats(root / "driver_stats.parquet")
    (root / "features.py").write_text(DEFINITIONS)
    (gate,) = build_gates([{"type": "feature_skew", "view": "driver_stat"}])
    with Session(sqlite_workspace) as session:
        (result,) = evaluate_all([gate], GateContext(None, None, "Production", session))  # type: ignore[arg-type]
    assert not result.passed
    assert "driver_stat" in result.message and "did you mean driver_stats" in result.message

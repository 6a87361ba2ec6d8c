"""The registry's public surface is small and importing it (or its CLI) loads no engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import modelward.registry

HEAVY = ("mlflow", "sklearn", "skops", "xgboost", "fastapi", "uvicorn")
REPO = Path(__file__).resolve().parents[3]


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(','.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    return set(out.stdout.strip().split(","))


def test_public_surface() -> None:
    assert sorted(modelward.registry.__all__) == [
        "Approval",
        "Divergence",
        "EVIDENCE_KINDS",
        "Environment",
        "Evidence",
        "Gate",
        "GateContext",
        "GateResult",
        "MAX_VERSION",
        "ModelVersion",
        "ParityCheck",
        "ReconcileReport",
        "RegisteredModel",
        "RunRecord",
        "STAGES",
        "TrackedRun",
        "Transition",
        "approve",
        "capture_environment",
        "check_divergences",
        "discover_model",
        "ensure_tracking_store",
        "get_model",
        "get_version",
        "history",
        "latest_evidence",
        "lineage_diff",
        "lineage_report",
        "list_evidence",
        "list_models",
        "list_versions",
        "parity_checks",
        "parse_ref",
        "reconcile",
        "record_evidence",
        "register",
        "register_gate",
        "report_rows",
        "rollback",
        "run",
        "set_approval_policy",
        "set_gate_policy",
        "set_owner",
        "sync",
        "tracking_environ",
        "transition",
        "using_workspace",
        "validate_name",
    ]
    for name in modelward.registry.__all__:
        assert getattr(modelward.registry, name) is not None


def test_importing_the_registry_api_and_client_loads_no_engine() -> None:
    loaded = _imported_after(
        "import modelward.registry, modelward.registry.lifecycle, modelward.registry.versions\n"
        "import modelward.registry.mlflow_plugin, modelward.api.client"
    )
    assert loaded.isdisjoint(HEAVY)


def test_cli_help_with_the_registry_commands_loads_no_engine() -> None:
    code = (
        "from tests.unit.registry.support import _wire\n_wire()\n"
        "from modelward.cli import main\n"
        "for args in (['--help'], ['models', '--help'], ['audit', '--help'], ['run', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass"
    )
    assert _imported_after(code).isdisjoint(HEAVY)

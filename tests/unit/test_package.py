"""The package's shape: cheap imports, no work at import time, a pinned public surface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import modelward.data
import modelward.errors

HEAVY = ("sqlalchemy", "duckdb", "pyarrow", "mlflow", "sklearn", "ray", "fastapi")


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(','.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.strip().split(","))


def test_import_modelward_loads_no_engine() -> None:
    assert _imported_after("import modelward").isdisjoint(HEAVY)


def test_cli_help_loads_no_engine() -> None:
    code = (
        "from modelward.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert _imported_after(code).isdisjoint(HEAVY)


def test_data_public_surface() -> None:
    assert sorted(modelward.data.__all__) == [
        "Contract",
        "SchemaDiff",
        "Snapshot",
        "Source",
        "ValidationReport",
        "connect",
        "content_hashes",
        "diff",
        "diff_schemas",
        "get",
        "get_snapshot",
        "hash_batches",
        "infer_contract",
        "jsonable",
        "list",
        "list_snapshots",
        "load_contract",
        "parse_duration",
        "quote_ident",
        "quote_literal",
        "read",
        "read_snapshot",
        "resolve_source",
        "scan",
        "scan_snapshot",
        "snapshot",
        "validate",
    ]
    for name in modelward.data.__all__:
        assert getattr(modelward.data, name) is not None


def test_every_error_maps_to_an_exit_code_and_status() -> None:
    for name in modelward.errors.__all__:
        cls = getattr(modelward.errors, name)
        if not isinstance(cls, type):  # the problem+json renderer and its media type
            continue
        assert cls.exit_code in (1, 2, 3, 70), name
        assert 400 <= cls.http_status < 600, name
    assert modelward.errors.InputError.exit_code == 2
    assert modelward.errors.NotFound.exit_code == 2


def test_one_exit_code_for_every_refusal() -> None:
    """docs/cli.md: 1 refused, 2 usage or input, 3 unavailable (a missing approval and
    "the author may not approve" once exited 1 and 2)."""
    errors = modelward.errors
    refusals = (
        errors.CheckFailed,
        errors.ContractViolation,
        errors.PermissionDenied,
        errors.Unauthenticated,
        errors.Conflict,
    )
    assert {cls.exit_code for cls in refusals} == {1}
    assert errors.StoreUnavailable.exit_code == errors.StorageError.exit_code == 3
    doc = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    for code in ("0", "1", "2", "3", "70", "130"):
        assert f"| `{code}` |" in doc, f"exit code {code} is not documented in docs/cli.md"


def test_running_commands_in_one_process_does_not_grow_the_command_tree(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`main` mounted every group again on each call, so a process running many commands
    (a script, this suite) built an ever larger tree: the suite's CLI tests ran 20x slower."""
    import importlib

    from modelward.cli import main

    app_module = importlib.import_module("modelward.cli.app")

    def shape() -> tuple[int, int]:
        return len(app_module.app.registered_groups), len(app_module.app.registered_commands)

    for _ in range(3):
        with pytest.raises(SystemExit) as info:
            main(["--help"])
        assert info.value.code == 0
        if _ == 0:
            first = shape()
    assert shape() == first
    names = [g.name for g in app_module.app.registered_groups]
    assert len(names) == len(set(names)), names
    capsys.readouterr()

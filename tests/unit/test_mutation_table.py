"""The mutation tool's table names real modules and real test files: a renamed test file
would make a module's whole run fail at mutmut's first step and report nothing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _table() -> dict[str, list[str]]:
    spec = importlib.util.spec_from_file_location("mutation_tool", ROOT / "tools" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return dict(module.MODULES)


def test_every_module_and_test_file_the_mutation_table_names_exists() -> None:
    missing = [
        path
        for module, tests in _table().items()
        for path in [f"src/modelward/{module.replace('.', '/')}.py", *tests]
        if not (ROOT / path).is_file()
    ]
    assert missing == []

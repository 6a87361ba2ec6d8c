"""The public names of the pipelines context, and that importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import modelward.pipelines as pipelines


def test_every_public_name_resolves() -> None:
    for name in pipelines.__all__:
        assert getattr(pipelines, name) is not None, name


def test_importing_the_package_loads_no_database_or_ml_library() -> None:
    code = (
        "import sys, modelward.pipelines; "
        "print(','.join(m for m in ('sqlalchemy', 'sklearn', 'mlflow', 'ray', 'duckdb') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

"""The ``examples/churn`` project of a source checkout, copied into a workspace.

Its feature definitions, contracts and pipeline are the files a user would write; the
data comes from :func:`modelward.examples.churn.write_churn_data`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from modelward.errors import InputError
from modelward.examples.churn import write_churn_data

__all__ = ["example_dir", "prepare_example"]

_FILES = ("features.py", "pipelines.py", "contracts/activity.yaml", "contracts/labels.yaml")


def example_dir() -> Path:
    """The ``examples/churn`` project of a source checkout."""
    found = Path(__file__).resolve().parents[3] / "examples" / "churn"
    if not (found / "pipelines.py").is_file():
        raise InputError(
            f"{found}: the churn example project is not here; run from a source checkout",
            path=str(found),
        )
    return found


def prepare_example(root: Path, *, months: int = 12, customers: int = 3_000) -> None:
    """Copy the example project into the workspace at ``root`` and write its data."""
    source = example_dir()
    for rel in _FILES:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target)
    write_churn_data(root / "data", customers=customers, months=months)

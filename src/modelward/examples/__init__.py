"""Example data and the example project, for the quickstart, the docs and the tests.

This module is the examples' public surface. Every generator is deterministic (DuckDB's
``hash`` of the row and a salt, not a random generator): the same arguments give the
same bytes, hence the same snapshot hashes, on any machine.

* :mod:`~modelward.examples.churn`: customers and their contract; their history over
  time with delayed churn labels (what the churn pipeline trains on);
* :mod:`~modelward.examples.drivers`: hourly driver statistics and their feature
  definitions (the feature-store example);
* :mod:`~modelward.examples.project`: the ``examples/churn`` project (feature
  definitions, contracts, pipeline) copied into a workspace with its data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports

if TYPE_CHECKING:
    from modelward.examples.churn import (
        AS_OF,
        CONTRACT_YAML,
        HISTORY_AS_OF,
        HISTORY_START,
        write_churn_data,
        write_customers,
    )
    from modelward.examples.drivers import DEFINITIONS, EXAMPLE_END, write_example
    from modelward.examples.project import (
        ENDPOINT_FILE,
        commit_workspace,
        example_dir,
        prepare_example,
    )

__all__ = [
    "AS_OF",
    "CONTRACT_YAML",
    "DEFINITIONS",
    "ENDPOINT_FILE",
    "EXAMPLE_END",
    "HISTORY_AS_OF",
    "HISTORY_START",
    "commit_workspace",
    "example_dir",
    "prepare_example",
    "write_churn_data",
    "write_customers",
    "write_example",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AS_OF": "churn",
        "CONTRACT_YAML": "churn",
        "HISTORY_AS_OF": "churn",
        "HISTORY_START": "churn",
        "write_churn_data": "churn",
        "write_customers": "churn",
        "DEFINITIONS": "drivers",
        "EXAMPLE_END": "drivers",
        "write_example": "drivers",
        "ENDPOINT_FILE": "project",
        "commit_workspace": "project",
        "example_dir": "project",
        "prepare_example": "project",
    },
)

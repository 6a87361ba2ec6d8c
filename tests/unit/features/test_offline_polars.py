"""A polars spine, in a file of its own: polars starts a thread pool when it is first used,
and a process forked after that deadlocks in polars (mutmut forks one child per mutant
from the process that ran the tests once), so this file is not among the mutation tests.
"""

from __future__ import annotations

import pytest

from modelward.features import Catalog, training_set
from tests.unit.features.support import hours, spine


def test_polars_spine(catalog: Catalog) -> None:
    pl = pytest.importorskip("polars")
    polars_frame = pl.from_arrow(spine([1, 2], [hours(2), hours(3)]))
    with training_set(polars_frame, ["driver_stats:trips"], catalog=catalog) as ts:
        assert ts.to_arrow().column("trips").to_pylist() == [21, 0]

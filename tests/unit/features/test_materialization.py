"""Incremental materialization at the watermark edge.

A run covers event times in ``[start, end)``; the next incremental run starts at the
previous end. A row whose event time is exactly that end belongs to no earlier run, so
the next run must take it: a ``>`` where ``>=`` belongs loses it for good (the watermark
has moved past it), silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.features import Catalog, Entity, Feature, FeatureLookup, FeatureView
from modelward.features.materialization import materialize_view, watermark
from modelward.features.online.memory import MemoryOnlineStore
from modelward.session import Session
from tests.unit.features.support import hours, write_stats

TICK = timedelta(microseconds=1)


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


def _view(path: Path) -> FeatureView:
    return FeatureView(
        "driver_stats",
        entities=[Entity("driver", "driver_id")],
        source=str(path),
        created_timestamp="created",
        features=[Feature("trips", "int64"), Feature("rating", "float64")],
        ttl=timedelta(days=30),
    )


def _trips(store: MemoryOnlineStore, view: FeatureView, ids: list[int]) -> list[object]:
    lookup = FeatureLookup(store, Catalog([view]))
    return lookup.get({"driver_id": ids}, ["driver_stats:trips"], at=hours(100)).columns["trips"]


def test_rows_exactly_at_the_previous_end_go_into_the_next_run(
    session: Session, tmp_path: Path
) -> None:
    # driver 1: rows at 1h (10) and at 2h (20, then 21 created later); driver 2: 1h and 3h
    view = _view(write_stats(tmp_path / "stats.parquet"))
    store = MemoryOnlineStore()
    first = materialize_view(session, view, store, end=hours(2))
    assert (first.status, first.rows) == ("succeeded", 2)
    assert _trips(store, view, [1, 2]) == [10, 5]  # the 2h rows are past [start, end)
    assert watermark(session, view, store) == hours(2)

    second = materialize_view(session, view, store, end=hours(2) + TICK)
    assert second.start == hours(2)
    assert (second.status, second.rows) == ("succeeded", 1)
    assert _trips(store, view, [1, 2]) == [21, 5]  # the row at exactly the old end is taken


def test_the_end_itself_is_left_for_the_next_run(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "edge.parquet"
    ts = pa.timestamp("us", "UTC")
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([1, 1], pa.int64()),
                "event_timestamp": pa.array([hours(1), hours(5)], ts),
                "created": pa.array([hours(1), hours(5)], ts),
                "trips": pa.array([1, 5], pa.int64()),
                "rating": pa.array([1.0, 5.0]),
            }
        ),
        path,
    )
    view = _view(path)
    store = MemoryOnlineStore()
    materialize_view(session, view, store, end=hours(5))
    assert _trips(store, view, [1]) == [1]
    materialize_view(session, view, store, end=hours(5) + TICK)
    assert _trips(store, view, [1]) == [5]
    # up to date: a run ending at the watermark reads nothing and records nothing
    again = materialize_view(session, view, store, end=hours(5) + TICK)
    assert (again.status, again.rows) == ("up-to-date", 0)


def test_a_backfill_of_the_same_range_changes_nothing(session: Session, tmp_path: Path) -> None:
    view = _view(write_stats(tmp_path / "stats.parquet"))
    store = MemoryOnlineStore()
    materialize_view(session, view, store, end=hours(10))
    before = store.read(view.online_namespace, ["1", "2"])
    redo = materialize_view(session, view, store, start=hours(0), end=hours(10), mode="backfill")
    assert redo.status == "succeeded"
    assert store.read(view.online_namespace, ["1", "2"]) == before
    # an older range written after a newer one never rolls a value back
    materialize_view(session, view, store, start=hours(0), end=hours(2), mode="backfill")
    assert store.read(view.online_namespace, ["1", "2"]) == before

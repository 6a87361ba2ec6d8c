"""A small driver-stats feature view over a Parquet file, shared by the features tests.

Its fixtures are registered for tests/unit/features by its conftest.py, which only imports
them; other tests import this module, never the conftest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from modelward.features import Catalog, Entity, Feature, FeatureView, OnDemandView, on_demand

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def hours(h: float) -> datetime:
    return T0 + timedelta(hours=h)


def write_stats(path: Path) -> Path:
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([1, 1, 1, 2, 2], pa.int64()),
                "event_timestamp": pa.array(
                    [hours(1), hours(2), hours(2), hours(1), hours(3)], pa.timestamp("us", "UTC")
                ),
                "created": pa.array(
                    [hours(1), hours(2), hours(2.5), hours(1), hours(3)], pa.timestamp("us", "UTC")
                ),
                "trips": pa.array([10, 20, 21, 5, 0], pa.int64()),
                "rating": pa.array([4.5, 4.6, 4.7, 3.0, 3.5], pa.float64()),
                "city": pa.array(["a", "a", "b", "c", "c"]),
            }
        ),
        path,
    )
    return path


@pytest.fixture
def stats_path(tmp_path: Path) -> Path:
    return write_stats(tmp_path / "driver_stats.parquet")


@pytest.fixture
def driver() -> Entity:
    return Entity("driver", ["driver_id"])


def make_stats_view(path: Path) -> FeatureView:
    return FeatureView(
        "driver_stats",
        entities=[Entity("driver", ["driver_id"])],
        source=str(path),
        created_timestamp="created",
        features=[
            Feature("trips", "int64", "trips in the last hour"),
            Feature("rating", "float64"),
            Feature("city", "string"),
        ],
        ttl=timedelta(hours=2),
        owner="team-a",
    )


@pytest.fixture
def stats_view(stats_path: Path) -> FeatureView:
    return make_stats_view(stats_path)


def make_density(view: FeatureView) -> OnDemandView:
    @on_demand(
        inputs=[view],
        request=[Feature("km", "float64")],
        outputs=[Feature("trips_per_km", "float64")],
    )
    def trips_per_km(table: pa.Table) -> dict[str, pa.Array]:
        km = table["km"]
        if pc.any(pc.less_equal(km, 0)).as_py():
            raise ValueError("km must be positive")
        return {"trips_per_km": pc.divide(pc.cast(table["trips"], pa.float64()), km)}

    return trips_per_km


@pytest.fixture
def density(stats_view: FeatureView) -> OnDemandView:
    return make_density(stats_view)


@pytest.fixture
def catalog(stats_view: FeatureView, density: OnDemandView) -> Catalog:
    return Catalog([stats_view, density])


def spine(ids: list[int | None], at: list[datetime], **extra: list[object]) -> pa.Table:
    cols: dict[str, pa.Array] = {
        "driver_id": pa.array(ids, pa.int64()),
        "event_timestamp": pa.array(at, pa.timestamp("us", "UTC")),
    }
    for name, values in extra.items():
        cols[name] = pa.array(values)
    return pa.table(cols)

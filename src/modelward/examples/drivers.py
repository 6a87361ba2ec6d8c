"""A worked feature-store example for the quickstart and the docs: driver statistics.

:func:`write_example` writes ``data/driver_stats.parquet`` (hourly rows per driver, some
sharing an event time and differing in created time) and a ``features.py`` defining an
entity, a feature view with rules and an on-demand transform, into a workspace folder.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["DEFINITIONS", "EXAMPLE_END", "write_example"]

EXAMPLE_START = datetime(2026, 1, 1, tzinfo=UTC)
#: the end of the example data: materialize and train up to here
EXAMPLE_END = EXAMPLE_START + timedelta(days=7)

DEFINITIONS = '''\
"""Feature definitions of the modelward example: driver statistics."""

from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc

from modelward.features import Entity, Feature, FeatureView, Rule, on_demand

driver = Entity("driver", join_keys=["driver_id"], description="a ride-hailing driver")

driver_stats = FeatureView(
    "driver_stats",
    entities=[driver],
    source="data/driver_stats.parquet",
    timestamp="event_timestamp",
    created_timestamp="created",
    features=[
        Feature("trips", "int64", "trips completed in the hour"),
        Feature("rating", "float64", "average rating in the hour"),
        Feature("acceptance", "float64", "share of offered rides accepted"),
        Feature("city", "string", "city the driver worked in"),
    ],
    ttl=timedelta(hours=6),
    owner="ml-platform@example.com",
    tags={"team": "marketplace"},
    rules=[Rule.between("rating", 1, 5), Rule.between("acceptance", 0, 1)],
)


@on_demand(
    inputs=[driver_stats],
    request=[Feature("distance_km", "float64", "length of the requested ride")],
    outputs=[Feature("trips_per_km", "float64", "recent trips per requested km")],
    owner="ml-platform@example.com",
)
def trips_per_km(table: pa.Table) -> dict[str, pa.Array]:
    return {"trips_per_km": pc.divide(pc.cast(table["trips"], pa.float64()), table["distance_km"])}
'''


def _rows(drivers: int, hours: int) -> pa.Table:
    ids, events, created, trips, rating, acceptance, city = [], [], [], [], [], [], []
    cities = ["lisbon", "porto", "braga"]
    for d in range(1, drivers + 1):
        for h in range(0, hours, 1 + d % 3):
            at = EXAMPLE_START + timedelta(hours=h)
            ids.append(d)
            events.append(at)
            created.append(at + timedelta(minutes=5))
            trips.append((d * 7 + h * 3) % 11)
            rating.append(round(3.0 + ((d + h) % 20) / 10, 2))
            acceptance.append(round(((d * 13 + h) % 100) / 100, 2))
            city.append(cities[d % 3])
            if h % 24 == 0:  # a late correction of the same hour: the created time decides
                ids.append(d)
                events.append(at)
                created.append(at + timedelta(minutes=50))
                trips.append(trips[-1] + 1)
                rating.append(rating[-1])
                acceptance.append(acceptance[-1])
                city.append(city[-1])
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "driver_id": pa.array(ids, pa.int64()),
            "event_timestamp": pa.array(events, ts),
            "created": pa.array(created, ts),
            "trips": pa.array(trips, pa.int64()),
            "rating": pa.array(rating, pa.float64()),
            "acceptance": pa.array(acceptance, pa.float64()),
            "city": pa.array(city, pa.string()),
        }
    )


def write_example(root: str | Path, *, drivers: int = 50, hours: int = 168) -> Path:
    """Write the example data and ``features.py`` into ``root``; returns the data file.

    An existing ``features.py`` is kept (it may be the user's own).
    """
    root = Path(root)
    data = root / "data" / "driver_stats.parquet"
    data.parent.mkdir(parents=True, exist_ok=True)
    tmp = data.with_name(f".{data.name}.{os.getpid()}.tmp")
    pq.write_table(_rows(drivers, hours), tmp)
    os.replace(tmp, data)
    definitions = root / "features.py"
    if not definitions.exists():
        tmp = definitions.with_name(f".{definitions.name}.{os.getpid()}.tmp")
        tmp.write_text(DEFINITIONS, encoding="utf-8")
        os.replace(tmp, definitions)
    return data

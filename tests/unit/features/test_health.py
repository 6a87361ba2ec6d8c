"""Feature health: rows, freshness, null rate, cardinality and numeric ranges per feature,
and how the null rate and mean moved since the previous statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from modelward.features.definitions import Entity, Feature, FeatureView
from modelward.features.health import compare, compute_stats
from modelward.features.sources import EVENT_TS

VIEW = FeatureView(
    "driver_stats",
    entities=[Entity("driver", join_keys=["driver_id"])],
    source="stats.parquet",
    features=[Feature("rating", "float64"), Feature("tier", "string")],
)
NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)


def test_statistics_of_a_batch_per_feature() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = pa.table(
        {
            "driver_id": [1, 2, 3, 4],
            EVENT_TS: pa.array(
                [NOW - timedelta(hours=h) for h in (5, 3, 2, 2)], pa.timestamp("us", "UTC")
            ),
            "rating": [4.0, None, 5.0, 3.0],
            "tier": ["gold", "gold", None, "silver"],
        }
    )
    con.register("batch", rows)
    stats = compute_stats(con, "batch", VIEW, now=NOW)
    assert stats["rows"] == 4
    assert stats["freshness_s"] == pytest.approx(2 * 3600)
    assert stats["newest_event"] == (NOW - timedelta(hours=2)).isoformat()
    assert stats["features"]["rating"] == {
        "null_rate": 0.25,
        "cardinality": 3,
        "min": 3.0,
        "max": 5.0,
        "mean": 4.0,
    }
    assert stats["features"]["tier"] == {"null_rate": 0.25, "cardinality": 2}


def test_an_empty_batch_has_no_rates_and_no_freshness() -> None:
    con = duckdb.connect()
    empty = pa.table(
        {
            "driver_id": pa.array([], pa.int64()),
            EVENT_TS: pa.array([], pa.timestamp("us", "UTC")),
            "rating": pa.array([], pa.float64()),
            "tier": pa.array([], pa.string()),
        }
    )
    con.register("batch", empty)
    stats = compute_stats(con, "batch", VIEW, now=NOW)
    assert (stats["rows"], stats["freshness_s"], stats["newest_event"]) == (0, None, None)
    assert stats["features"]["rating"]["null_rate"] is None


def test_the_change_since_the_previous_statistics_per_feature() -> None:
    before = {"features": {"rating": {"null_rate": 0.1, "mean": 4.0, "cardinality": 5}}}
    now = {
        "features": {
            "rating": {"null_rate": 0.3, "mean": 3.5, "cardinality": 7},
            "tier": {"null_rate": 0.0, "cardinality": 2},  # new: nothing to compare with
        }
    }
    change = compare(before, now)
    assert list(change) == ["rating"]
    assert change["rating"]["null_rate"] == pytest.approx(0.2)
    assert change["rating"]["mean"] == pytest.approx(-0.5)
    assert change["rating"]["cardinality"] == 2
    assert compare(None, now) == {} and compare({}, now) == {}

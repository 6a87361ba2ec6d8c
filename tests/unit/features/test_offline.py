from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.errors import InputError
from modelward.features import Catalog, Entity, Feature, FeatureView, OnDemandView, training_set
from modelward.lineage import collecting
from tests.unit.features.support import hours, spine


def test_point_in_time_values_ttl_and_created_tie_break(catalog: Catalog) -> None:
    s = spine([1, 1, 1, 2, 3], [hours(0.5), hours(2), hours(4.5), hours(3), hours(3)])
    with training_set(s, ["driver_stats:trips", "driver_stats:city"], catalog=catalog) as ts:
        got = ts.to_arrow()
    # before any row: null; at 2h the row created at 2.5h wins the tie; 4.5h is past the TTL
    assert got.column("trips").to_pylist() == [None, 21, None, 0, None]
    assert got.column("city").to_pylist() == [None, "b", None, "c", None]
    assert got.column_names == ["driver_id", "event_timestamp", "trips", "city"]


def test_on_demand_features_are_computed_after_the_join(catalog: Catalog) -> None:
    s = spine([1, 2], [hours(2), hours(3)], km=[2.0, 0.5])
    with training_set(s, ["trips_per_km", "driver_stats:rating"], catalog=catalog) as ts:
        got = ts.to_arrow()
    assert got.column("trips_per_km").to_pylist() == [10.5, 0.0]
    assert got.column("rating").to_pylist() == [4.7, 3.5]
    assert "trips" not in got.column_names  # the transform's input is not leaked


def test_parquet_spine_and_streaming_to_parquet(tmp_path: Path, catalog: Catalog) -> None:
    spine_path = tmp_path / "spine.parquet"
    pq.write_table(spine([2, 1], [hours(3), hours(2)], km=[1.0, 1.0]), spine_path)
    with training_set(spine_path, ["driver_stats", "trips_per_km"], catalog=catalog) as ts:
        out = ts.to_parquet(tmp_path / "out" / "train.parquet")
    table = pq.read_table(out)
    assert table.column("driver_id").to_pylist() == [2, 1]
    assert table.column("trips_per_km").to_pylist() == [0.0, 21.0]


def test_training_set_notes_lineage(
    catalog: Catalog, stats_view: FeatureView, density: OnDemandView
) -> None:
    s = spine([1], [hours(2)], km=[1.0])
    with collecting() as lineage, training_set(s, ["trips_per_km"], catalog=catalog) as ts:
        pass
    names = {u.name: u for u in ts.lineage}
    assert names["trips_per_km"].definition_hash == density.definition_hash
    assert names["driver_stats"].definition_hash == stats_view.definition_hash
    assert names["driver_stats"].source_hashes[0].startswith("parquet-footer:")
    assert {u["name"] for u in lineage.to_dict()["feature_views"]} == {
        "trips_per_km",
        "driver_stats",
    }


def test_spine_without_timestamp_column_is_refused(catalog: Catalog) -> None:
    s = pa.table({"driver_id": [1]})
    with pytest.raises(InputError, match="no timestamp column 'event_timestamp'"):
        training_set(s, ["driver_stats:trips"], catalog=catalog)


def test_spine_with_naive_timestamps_is_refused(catalog: Catalog) -> None:
    s = pa.table({"driver_id": [1], "event_timestamp": [datetime(2024, 1, 1)]})
    with pytest.raises(InputError, match="naive timestamps"):
        training_set(s, ["driver_stats:trips"], catalog=catalog)


def test_spine_without_entity_key_is_refused(catalog: Catalog) -> None:
    s = pa.table({"event_timestamp": pa.array([hours(1)], pa.timestamp("us", "UTC"))})
    with pytest.raises(InputError, match=r"lacks entity key column.*driver_id"):
        training_set(s, ["driver_stats:trips"], catalog=catalog)


def test_duplicate_spine_rows_are_refused_naming_them(catalog: Catalog) -> None:
    s = spine([1, 2, 1], [hours(1), hours(1), hours(1)])
    with pytest.raises(InputError, match="spine rows 0 and 2"):
        training_set(s, ["driver_stats:trips"], catalog=catalog)


def test_null_spine_timestamp_is_refused(catalog: Catalog) -> None:
    s = spine([1, 2], [hours(1), None])  # type: ignore[list-item]
    with pytest.raises(InputError, match="spine row 1 has no timestamp"):
        training_set(s, ["driver_stats:trips"], catalog=catalog)


def test_unknown_feature_names_the_view_and_its_features(catalog: Catalog) -> None:
    s = spine([1], [hours(1)])
    with pytest.raises(InputError, match=r"unknown feature driver_stats:trip.*trips, rating"):
        training_set(s, ["driver_stats:trip"], catalog=catalog)
    with pytest.raises(InputError, match=r"unknown feature view 'driver_stat'.*driver_stats"):
        training_set(s, ["driver_stat:trips"], catalog=catalog)


def test_source_lacking_a_declared_column_is_refused(stats_path: Path, driver: Entity) -> None:
    view = FeatureView(
        "broken", entities=[driver], source=str(stats_path), features=[Feature("speed", "float64")]
    )
    with pytest.raises(InputError, match="feature column 'speed' is not in source"):
        training_set(spine([1], [hours(1)]), [view])


def test_source_column_of_another_type_is_refused(stats_path: Path, driver: Entity) -> None:
    view = FeatureView(
        "typed", entities=[driver], source=str(stats_path), features=[Feature("city", "int64")]
    )
    with pytest.raises(InputError, match="'city' is declared int64 but the source column"):
        training_set(spine([1], [hours(1)]), [view])


def test_on_demand_error_names_the_view_and_the_row(catalog: Catalog) -> None:
    s = spine([1, 2, 1], [hours(2), hours(3), hours(3.5)], km=[1.0, 0.0, 2.0])
    ts = training_set(s, ["trips_per_km"], catalog=catalog)
    with pytest.raises(InputError) as info:
        ts.to_arrow()
    ts.close()
    assert "'trips_per_km'" in info.value.message
    assert "row 1 ({'driver_id': 2})" in info.value.message
    assert "km must be positive" in info.value.message


def test_output_name_clash_suggests_full_names(catalog: Catalog) -> None:
    s = spine([1], [hours(2)], trips=[3])
    with pytest.raises(InputError, match="full_names=True"):
        training_set(s, ["driver_stats:trips"], catalog=catalog)
    with training_set(s, ["driver_stats:trips"], catalog=catalog, full_names=True) as ts:
        assert ts.to_arrow().column("driver_stats__trips").to_pylist() == [21]


def test_sql_source(tmp_path: Path, stats_path: Path, driver: Entity) -> None:
    view = FeatureView(
        "sql_stats",
        entities=[driver],
        source=f"SELECT driver_id, event_timestamp, trips * 2 AS double_trips "
        f"FROM read_parquet('{stats_path}')",
        features=[Feature("double_trips", "int64")],
    )
    with training_set(spine([2], [hours(5)]), [view]) as ts:
        assert ts.to_arrow().column("double_trips").to_pylist() == [0]


def test_pandas_spines(catalog: Catalog) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"driver_id": [1, 2], "event_timestamp": pd.to_datetime([hours(2), hours(3)], utc=True)}
    )
    with training_set(frame, ["driver_stats:trips"], catalog=catalog) as ts:
        assert ts.to_pandas()["trips"].tolist() == [21, 0]
    naive = frame.assign(event_timestamp=frame["event_timestamp"].dt.tz_localize(None))
    with pytest.raises(InputError, match="naive timestamps"):
        training_set(naive, ["driver_stats:trips"], catalog=catalog)

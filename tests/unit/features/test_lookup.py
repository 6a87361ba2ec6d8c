"""The online lookup, read whole: every column, event time and expiry of a mixed batch.

A serving caller reads ``columns`` for the values, ``event_us`` for their freshness and
``expired_us`` to tell "no value" from "a value older than the TTL" (the feature server's
statuses); each is compared whole here, for fresh, expired and missing entities side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from modelward.errors import InputError
from modelward.features import (
    Catalog,
    Entity,
    Feature,
    FeatureLookup,
    FeatureView,
    OnlineResult,
    Record,
)
from modelward.features.catalog import FeatureRef, Selection
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.packing import entity_key, pack, to_us
from tests.unit.features.support import hours

TICK = timedelta(microseconds=1)
DTYPES = ["int64", "float64", "string"]


def _store(view: FeatureView, rows: dict[str, tuple[datetime, list[object]]]) -> MemoryOnlineStore:
    store = MemoryOnlineStore()
    store.write(
        view.online_namespace,
        [Record(key, to_us(at), 0, pack(values, DTYPES)) for key, (at, values) in rows.items()],  # type: ignore[arg-type]
    )
    return store


@pytest.fixture
def mixed(stats_view: FeatureView) -> MemoryOnlineStore:
    # at 4h with the view's 2h TTL: driver 1 is exactly TTL old (fresh), driver 2 one tick
    # older (expired), driver 3 has no row at all
    return _store(
        stats_view,
        {
            "1": (hours(2), [21, 4.7, "b"]),
            "2": (hours(2) - TICK, [5, 3.0, "c"]),
        },
    )


def test_fresh_expired_and_missing_entities_in_one_batch(
    mixed: MemoryOnlineStore, catalog: Catalog
) -> None:
    got = FeatureLookup(mixed, catalog).get(
        {"driver_id": [1, 2, 3]}, ["driver_stats"], at=hours(2) + timedelta(hours=2)
    )
    assert got.columns == {
        "driver_id": [1, 2, 3],
        "trips": [21, None, None],
        "rating": [4.7, None, None],
        "city": ["b", None, None],
    }
    assert got.event_us == {"driver_stats": [to_us(hours(2)), None, None]}
    # only the expired value says when it was from; a missing one has nothing to say
    assert got.expired_us == {"driver_stats": [None, to_us(hours(2) - TICK), None]}
    assert got.event_timestamps == {"driver_stats": [hours(2), None, None]}
    assert got.to_rows() == [
        {"driver_id": 1, "trips": 21, "rating": 4.7, "city": "b"},
        {"driver_id": 2, "trips": None, "rating": None, "city": None},
        {"driver_id": 3, "trips": None, "rating": None, "city": None},
    ]
    assert got.to_arrow().equals(
        pa.table(
            {
                "driver_id": [1, 2, 3],
                "trips": [21, None, None],
                "rating": [4.7, None, None],
                "city": ["b", None, None],
            }
        )
    )


def test_a_view_without_ttl_reports_nothing_expired(stats_view: FeatureView) -> None:
    forever = FeatureView(
        "forever",
        entities=stats_view.entities,
        source=stats_view.source,
        features=stats_view.features,
    )
    store = _store(forever, {"1": (hours(2), [21, 4.7, "b"])})
    got = FeatureLookup(store, Catalog([forever])).get(
        {"driver_id": [1, 2]}, ["forever:trips"], at=hours(10_000)
    )
    assert got.columns == {"driver_id": [1, 2], "trips": [21, None]}
    assert got.expired_us == {"forever": [None, None]}


def test_read_view_without_a_layout_applies_the_views_ttl(
    mixed: MemoryOnlineStore, catalog: Catalog, stats_view: FeatureView
) -> None:
    lookup = FeatureLookup(mixed, catalog)
    columns, stamps = lookup.read_view(stats_view, ["1", "2", "3"], hours(4))
    assert columns == [[21, None, None], [4.7, None, None], ["b", None, None]]
    assert stamps == [to_us(hours(2)), None, None]
    # one tick later driver 1 is past the TTL too
    columns, stamps = lookup.read_view(stats_view, ["1", "2"], hours(4) + TICK)
    assert columns == [[None, None], [None, None], [None, None]]
    assert stamps == [None, None]


def test_no_entities_give_empty_columns(mixed: MemoryOnlineStore, catalog: Catalog) -> None:
    got = FeatureLookup(mixed, catalog).get({"driver_id": []}, ["driver_stats"], at=hours(3))
    assert got.columns == {"driver_id": [], "trips": [], "rating": [], "city": []}
    assert got.event_us == {"driver_stats": []}
    assert got.expired_us == {"driver_stats": []}
    assert got.to_rows() == []


def test_without_at_the_lookup_reads_at_the_current_time(
    stats_view: FeatureView, catalog: Catalog
) -> None:
    recent = datetime.now(UTC) - timedelta(minutes=5)
    store = _store(stats_view, {"1": (recent, [1, 1.0, "a"]), "2": (hours(2), [2, 2.0, "b"])})
    got = FeatureLookup(store, catalog).get({"driver_id": [1, 2]}, ["driver_stats:trips"])
    assert got.columns["trips"] == [1, None]  # 2024's value is long past the 2h TTL
    assert got.expired_us["driver_stats"] == [None, to_us(hours(2))]


def test_entities_given_as_rows(mixed: MemoryOnlineStore, catalog: Catalog) -> None:
    got = FeatureLookup(mixed, catalog).get(
        [{"driver_id": 1}, {"driver_id": 3, "tier": "gold"}, {"driver_id": 2}],
        ["driver_stats:trips"],
        at=hours(3),
    )
    # a field some rows lack is None in those rows; the names keep their first-seen order
    assert got.columns == {
        "driver_id": [1, 3, 2],
        "tier": [None, "gold", None],
        "trips": [21, None, 5],
    }


def test_refusals_name_the_field_and_the_rule(catalog: Catalog) -> None:
    lookup = FeatureLookup(MemoryOnlineStore(), catalog)
    with pytest.raises(InputError) as info:
        lookup.get({"driver_id": [1, 2], "zone": ["a"]}, ["driver_stats:trips"])
    assert info.value.message == "entity columns have different lengths: driver_id=2, zone=1"
    with pytest.raises(InputError) as info:
        lookup.get({"driver_id": [1, 2]}, ["trips_per_km"], request={"km": [1.0], "x": [2.0]})
    assert info.value.message == (
        "request fields have different lengths from the 2 entity rows: km=1, x=1"
    )
    with pytest.raises(InputError) as info:
        lookup.get({"driver": [1]}, ["driver_stats:trips"])
    assert info.value.message == "feature view 'driver_stats' needs entity key(s) driver_id"
    assert info.value.details == {"view": "driver_stats", "column": "driver_id"}
    with pytest.raises(InputError) as info:
        lookup.get({"driver_id": [1]}, ["trips_per_km"], request={"kmh": [1.0]})
    assert info.value.message == "on-demand view 'trips_per_km' needs request field 'km'"
    assert info.value.details == {"view": "trips_per_km", "column": "km"}


def test_request_fields_of_equal_length_are_accepted(
    mixed: MemoryOnlineStore, catalog: Catalog
) -> None:
    got = FeatureLookup(mixed, catalog).get(
        {"driver_id": [1, 2]}, ["trips_per_km"], request={"km": [2.0, 0.5]}, at=hours(3)
    )
    assert got.columns == {"driver_id": [1, 2], "km": [2.0, 0.5], "trips_per_km": [10.5, 10.0]}
    # an empty request is no request
    plain = FeatureLookup(mixed, catalog).get(
        {"driver_id": [1]}, ["driver_stats:trips"], request={}, at=hours(3)
    )
    assert plain.columns == {"driver_id": [1], "trips": [21]}


def test_on_demand_inputs_are_typed_and_a_failing_row_is_named_by_its_key(
    mixed: MemoryOnlineStore, catalog: Catalog
) -> None:
    lookup = FeatureLookup(mixed, catalog)
    # integer kilometres are read as the declared float64, as the offline join does
    got = lookup.get({"driver_id": [1]}, ["trips_per_km"], request={"km": [4]}, at=hours(3))
    assert got.columns["trips_per_km"] == [5.25]
    assert isinstance(got.columns["trips_per_km"][0], float)
    # a missing input value reaches the function as a typed null
    missing = lookup.get({"driver_id": [3]}, ["trips_per_km"], request={"km": [1]}, at=hours(3))
    assert missing.columns["trips_per_km"] == [None]
    with pytest.raises(InputError) as info:
        lookup.get({"driver_id": [1, 2]}, ["trips_per_km"], request={"km": [1.0, 0.0]}, at=hours(3))
    assert "failed on row 1 ({'driver_id': 2})" in info.value.message
    assert info.value.details["keys"] == {"driver_id": "2"}


def test_an_on_demand_view_and_its_input_view_together(
    mixed: MemoryOnlineStore, catalog: Catalog
) -> None:
    got = FeatureLookup(mixed, catalog).get(
        {"driver_id": [1, 2]},
        ["trips_per_km", "driver_stats:city"],
        request={"km": [2.0, 1.0]},
        at=hours(4),
    )
    # driver 2 is expired at 4h, so its on-demand value has no input either
    assert got.columns == {
        "driver_id": [1, 2],
        "km": [2.0, 1.0],
        "trips_per_km": [10.5, None],
        "city": ["b", None],
    }
    assert list(got.event_us) == ["driver_stats"]


def test_composite_keys_read_the_joined_key() -> None:
    view = FeatureView(
        "pairs",
        entities=[Entity("driver", "driver_id"), Entity("zone", "zone")],
        source="pairs.parquet",
        features=[Feature("trips", "int64")],
    )
    store = MemoryOnlineStore()
    store.write(
        view.online_namespace,
        [Record(entity_key([1, "a"]), to_us(hours(1)), 0, pack([10], ["int64"]))],
    )
    got = FeatureLookup(store, Catalog([view])).get(
        [{"driver_id": 1, "zone": "a"}, {"driver_id": 1, "zone": "b"}], ["pairs:trips"]
    )
    assert got.columns["trips"] == [10, None]


def test_a_repeated_feature_list_gives_the_same_answer(
    mixed: MemoryOnlineStore, catalog: Catalog
) -> None:
    lookup = FeatureLookup(mixed, catalog)
    first = lookup.get({"driver_id": [1]}, ["driver_stats:trips"], at=hours(3))
    second = lookup.get({"driver_id": [1]}, ["driver_stats:trips"], at=hours(3))
    assert first == second
    assert second.columns == {"driver_id": [1], "trips": [21]}


def test_read_view_of_a_view_without_ttl_keeps_every_value(stats_view: FeatureView) -> None:
    forever = FeatureView(
        "forever",
        entities=stats_view.entities,
        source=stats_view.source,
        features=stats_view.features,
    )
    store = _store(forever, {"1": (hours(2), [21, 4.7, "b"])})
    columns, stamps = FeatureLookup(store, Catalog([forever])).read_view(
        forever, ["1", "2"], hours(10_000)
    )
    assert columns == [[21, None], [4.7, None], ["b", None]]
    assert stamps == [to_us(hours(2)), None]


def test_features_of_two_views_in_one_lookup(stats_view: FeatureView) -> None:
    zones = FeatureView(
        "zones",
        entities=stats_view.entities,
        source="zones.parquet",
        features=[Feature("zone", "string")],
    )
    store = _store(stats_view, {"1": (hours(2), [21, 4.7, "b"])})
    store.write(
        zones.online_namespace, [Record("1", to_us(hours(1)), 0, pack(["north"], ["string"]))]
    )
    got = FeatureLookup(store, Catalog([stats_view, zones])).get(
        {"driver_id": [1]}, ["driver_stats:trips", "zones:zone"], at=hours(3)
    )
    assert got.columns == {"driver_id": [1], "trips": [21], "zone": ["north"]}
    assert got.event_us == {"driver_stats": [to_us(hours(2))], "zones": [to_us(hours(1))]}


def test_no_entity_columns_at_all(catalog: Catalog) -> None:
    lookup = FeatureLookup(MemoryOnlineStore(), catalog)
    with pytest.raises(InputError) as info:
        lookup.get({}, ["driver_stats:trips"])
    assert info.value.message == "feature view 'driver_stats' needs entity key(s) driver_id"
    with pytest.raises(InputError) as info:
        lookup.get({}, ["trips_per_km"], request={"km": [1.0]})
    assert info.value.message == (
        "request fields have different lengths from the 0 entity rows: km=1"
    )


def test_every_missing_key_of_a_composite_view_is_named() -> None:
    view = FeatureView(
        "pairs",
        entities=[Entity("driver", "driver_id"), Entity("zone", "zone")],
        source="pairs.parquet",
        features=[Feature("trips", "int64")],
    )
    with pytest.raises(InputError) as info:
        FeatureLookup(MemoryOnlineStore(), Catalog([view])).get({"id": [1]}, ["pairs:trips"])
    assert info.value.message == "feature view 'pairs' needs entity key(s) driver_id, zone"


def test_on_demand_inputs_keep_their_declared_types_when_every_value_is_missing(
    stats_view: FeatureView, mixed: MemoryOnlineStore
) -> None:
    import pyarrow.compute as pc

    from modelward.features import on_demand

    @on_demand(
        inputs=[stats_view],
        request=[Feature("km", "float64")],
        outputs=[Feature("loud_city", "string"), Feature("half_km", "float64")],
    )
    def shaped(table: pa.Table) -> dict[str, pa.Array]:
        # utf8_upper has no kernel for a null-typed column; divide is integer division on ints
        return {"loud_city": pc.utf8_upper(table["city"]), "half_km": pc.divide(table["km"], 2)}

    lookup = FeatureLookup(mixed, Catalog([stats_view, shaped]))
    got = lookup.get({"driver_id": [3]}, ["shaped"], request={"km": [5]}, at=hours(3))
    assert got.columns["loud_city"] == [None]  # driver 3 has no row: a typed null, as offline
    assert got.columns["half_km"] == [2.5]
    both = lookup.get({"driver_id": [1]}, ["shaped"], request={"km": [1.0]}, at=hours(3))
    assert both.columns["loud_city"] == ["B"]


def test_rows_of_columns_of_different_lengths_are_refused() -> None:
    uneven = OnlineResult(columns={"driver_id": [1, 2], "trips": [21]}, event_us={})
    with pytest.raises(ValueError, match="zip"):
        uneven.to_rows()


class _CountingCatalog(Catalog):
    """Counts how often a feature list is resolved (the lookup's plan cache avoids it)."""

    selects = 0

    def select(self, refs: Sequence[FeatureRef]) -> list[Selection]:
        self.selects += 1
        return super().select(refs)


def test_a_feature_list_is_resolved_once_and_the_cache_is_bounded(
    stats_view: FeatureView, mixed: MemoryOnlineStore
) -> None:
    catalog = _CountingCatalog([stats_view])
    lookup = FeatureLookup(mixed, catalog)
    for _ in range(3):
        assert lookup.get({"driver_id": [1]}, ["driver_stats:trips"], at=hours(3)).columns[
            "trips"
        ] == [21]
    assert catalog.selects == 1
    # 1,024 distinct lists are kept; the next one is resolved on every call
    for n in range(2, 1_025):
        lookup.get({"driver_id": [1]}, ["driver_stats:trips"] * n, at=hours(3))
    assert catalog.selects == 1_024
    for _ in range(2):
        lookup.get({"driver_id": [1]}, ["driver_stats:trips"] * 1_025, at=hours(3))
    assert catalog.selects == 1_026
    lookup.get({"driver_id": [1]}, ["driver_stats:trips"] * 1_024, at=hours(3))
    assert catalog.selects == 1_026

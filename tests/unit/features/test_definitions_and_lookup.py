from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.features import (
    Catalog,
    Entity,
    Feature,
    FeatureLookup,
    FeatureView,
    OnDemandView,
    Record,
    Rule,
    training_set,
)
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.packing import entity_key, pack, to_us, unpack, unpack_many
from tests.unit.features.support import hours, make_stats_view


def test_definition_hash_is_stable_and_tracks_changes(stats_path: Path) -> None:
    a, b = make_stats_view(stats_path), make_stats_view(stats_path)
    assert a.definition_hash == b.definition_hash
    changed = FeatureView(
        "driver_stats",
        entities=a.entities,
        source=a.source,
        created_timestamp="created",
        features=a.features,
        ttl=timedelta(hours=3),
        owner="team-a",
    )
    assert changed.definition_hash != a.definition_hash
    # a description change keeps the online layout; a type change does not
    described = FeatureView(
        "driver_stats",
        entities=a.entities,
        source=a.source,
        created_timestamp="created",
        features=a.features,
        ttl=a.ttl,
        owner="team-a",
        description="per driver",
    )
    assert described.online_namespace == a.online_namespace
    retyped = FeatureView(
        "driver_stats", entities=a.entities, source=a.source, features=[Feature("trips", "float64")]
    )
    assert retyped.online_namespace != a.online_namespace


def test_on_demand_hash_follows_the_code(density: OnDemandView, stats_view: FeatureView) -> None:
    from tests.unit.features.support import make_density

    assert make_density(stats_view).definition_hash == density.definition_hash


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Entity("bad name", "id"), "entity name 'bad name' is invalid"),
        (lambda: Feature("x", "int32"), "dtype 'int32' is not one of"),  # type: ignore[arg-type]
        (
            lambda: FeatureView(
                "v",
                entities=[Entity("e", "id")],
                source="x.parquet",
                features=[Feature("id", "int64")],
            ),
            "column 'id' is used as both join key and feature",
        ),
        (
            lambda: FeatureView(
                "v",
                entities=[Entity("e", "id")],
                source="x.parquet",
                features=[Feature("x", "int64")],
                rules=[Rule.not_null("y")],
            ),
            "rule 'y not null' names 'y'",
        ),
        (
            lambda: FeatureView(
                "v",
                entities=[Entity("e", "id")],
                source="x.parquet",
                features=[Feature("x", "int64")],
                ttl=timedelta(0),
            ),
            "ttl must be positive",
        ),
    ],
)
def test_bad_definitions_are_refused(build: object, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        build()  # type: ignore[operator]


def test_packing_round_trips_every_type() -> None:
    at = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    dtypes = ["int64", "float64", "string", "bool", "timestamp"]
    row = [3, float("nan"), "ü", True, at]
    back = unpack(pack(row, dtypes), dtypes)  # type: ignore[arg-type]
    assert back[0] == 3 and back[2:] == ["ü", True, at]
    assert back[1] != back[1]  # NaN stays NaN
    assert (
        unpack_many([pack([1, None, None, None, None], dtypes)] * 2, dtypes)
        == [  # type: ignore[arg-type]
            [1, None, None, None, None]
        ]
        * 2
    )
    assert entity_key([7]) == "7" and entity_key([7, "x"]) == "7\x1fx"


def test_composite_keys_offline_and_online(tmp_path: Path) -> None:
    path = tmp_path / "pairs.parquet"
    ts = pa.timestamp("us", "UTC")
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([1, 1, 2], pa.int64()),
                "zone": ["a", "b", "a"],
                "event_timestamp": pa.array([hours(1), hours(1), hours(1)], ts),
                "trips": pa.array([10, 20, 30], pa.int64()),
            }
        ),
        path,
    )
    view = FeatureView(
        "pairs",
        entities=[Entity("driver", "driver_id"), Entity("zone", "zone")],
        source=str(path),
        features=[Feature("trips", "int64")],
    )
    spine = pa.table(
        {
            "driver_id": pa.array([1, 1, 2, 2], pa.int64()),
            "zone": ["b", "a", "a", "b"],
            "event_timestamp": pa.array([hours(2)] * 4, ts),
        }
    )
    with training_set(spine, ["pairs:trips"], catalog=Catalog([view])) as result:
        assert result.to_arrow().column("trips").to_pylist() == [20, 10, 30, None]
    store = MemoryOnlineStore()
    store.write(
        view.online_namespace,
        [
            Record(entity_key([d, z]), to_us(hours(1)), 0, pack([t], ["int64"]))
            for d, z, t in [(1, "a", 10), (1, "b", 20), (2, "a", 30)]
        ],
    )
    got = FeatureLookup(store, Catalog([view])).get(
        {"driver_id": [1, 1, 2, 2], "zone": ["b", "a", "a", "b"]}, ["pairs:trips"]
    )
    assert got.columns["trips"] == [20, 10, 30, None]


def test_lookup_refuses_missing_keys_and_request_fields(
    catalog: Catalog, stats_view: FeatureView
) -> None:
    lookup = FeatureLookup(MemoryOnlineStore(), catalog)
    with pytest.raises(InputError, match="needs entity key"):
        lookup.get({"driver": [1]}, ["driver_stats:trips"])
    with pytest.raises(InputError, match="needs request field 'km'"):
        lookup.get({"driver_id": [1]}, ["trips_per_km"])
    with pytest.raises(InputError, match="different lengths"):
        lookup.get({"driver_id": [1, 2]}, ["trips_per_km"], request={"km": [1.0]})


_VALUES = {
    "int64": st.integers(-(2**63), 2**63 - 1),
    "float64": st.floats(allow_nan=False),
    "string": st.text(),
    "bool": st.booleans(),
    "timestamp": st.datetimes(timezones=st.just(UTC)),
}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(list(_VALUES)), min_size=1, max_size=12).flatmap(
        lambda types: st.tuples(st.just(types), st.tuples(*(st.none() | _VALUES[t] for t in types)))
    )
)
def test_packed_rows_round_trip(case: tuple[list[str], tuple[object, ...]]) -> None:
    dtypes, values = case
    blob = pack(list(values), dtypes)  # type: ignore[arg-type]
    assert unpack(blob, dtypes) == list(values)  # type: ignore[arg-type]
    assert unpack_many([blob, blob], dtypes) == [list(values)] * 2  # type: ignore[arg-type]


def test_skew_examples_never_show_pii_values(stats_path: Path) -> None:
    from modelward.features.skew import skew_check

    view = FeatureView(
        "driver_stats",
        entities=[Entity("driver", "driver_id")],
        source=str(stats_path),
        created_timestamp="created",
        features=[Feature("city", "string", pii=True), Feature("trips", "int64")],
    )
    store = MemoryOnlineStore()
    store.write(
        view.online_namespace,
        [Record("2", to_us(hours(3)), 10**18, pack(["secret-town", 7], ["string", "int64"]))],
    )
    report = skew_check(view, store, sample=5)
    assert report.mismatch_rate == {"city": 1.0, "trips": 1.0}
    assert report.examples["city"][0]["online"] == "<redacted>"
    assert report.examples["trips"][0]["online"] == 7

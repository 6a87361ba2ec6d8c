"""The TTL edge, offline and online: a value exactly TTL old is still used, one tick older is not.

The offline join and the online lookup decide freshness separately (DuckDB SQL and Python);
if they disagree at the edge, a model trains on a value that serving would call missing,
or the other way round: training-serving skew. So both are pinned at the same instants.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from modelward.features import Catalog, FeatureLookup, FeatureView, Record, training_set
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.packing import pack, to_us
from tests.unit.features.support import hours, spine

TICK = timedelta(microseconds=1)
TTL = timedelta(hours=2)  # the TTL of the shared driver_stats view

# driver 1's newest row is at 2h (trips 21, the later-created of two rows at 2h);
# driver 2's rows are at 1h (trips 5) and 3h (trips 0)
EDGES = [
    pytest.param(1, hours(2) + TTL, 21, id="age == TTL: used"),
    pytest.param(1, hours(2) + TTL - TICK, 21, id="age == TTL - 1us: used"),
    pytest.param(1, hours(2) + TTL + TICK, None, id="age == TTL + 1us: missing"),
    pytest.param(2, hours(3), 0, id="age 0: the row at the spine time itself"),
    pytest.param(2, hours(3) - TICK, 5, id="1us before a row: the one before it"),
    pytest.param(1, hours(1) - TICK, None, id="before any row"),
]


def _offline(catalog: Catalog, driver: int, at: datetime) -> object:
    with training_set(spine([driver], [at]), ["driver_stats:trips"], catalog=catalog) as ts:
        return ts.to_arrow().column("trips").to_pylist()[0]


def _online_store(view: FeatureView, newest: dict[int, tuple[datetime, int]]) -> MemoryOnlineStore:
    store = MemoryOnlineStore()
    dtypes = [f.dtype for f in view.features]
    store.write(
        view.online_namespace,
        [
            Record(str(k), to_us(t), 0, pack([trips, 4.5, "a"], dtypes))
            for k, (t, trips) in newest.items()
        ],
    )
    return store


@pytest.mark.parametrize(("driver", "at", "expected"), EDGES)
def test_offline_join_at_the_ttl_edge(
    catalog: Catalog, driver: int, at: datetime, expected: int | None
) -> None:
    assert _offline(catalog, driver, at) == expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(hours(2) + TTL, 21, id="age == TTL: used"),
        pytest.param(hours(2) + TTL - TICK, 21, id="age == TTL - 1us: used"),
        pytest.param(hours(2) + TTL + TICK, None, id="age == TTL + 1us: missing"),
        pytest.param(hours(2), 21, id="age 0"),
    ],
)
def test_online_lookup_at_the_ttl_edge(
    stats_view: FeatureView, catalog: Catalog, at: datetime, expected: int | None
) -> None:
    store = _online_store(stats_view, {1: (hours(2), 21)})
    got = FeatureLookup(store, catalog).get({"driver_id": [1]}, ["driver_stats:trips"], at=at)
    assert got.columns["trips"] == [expected]
    # the event time comes back exactly when the value does
    assert got.event_us["driver_stats"] == [to_us(hours(2)) if expected is not None else None]


def test_offline_and_online_agree_at_every_edge(stats_view: FeatureView, catalog: Catalog) -> None:
    """What the online store holds at time t is the offline join's answer at t."""
    store = _online_store(stats_view, {1: (hours(2), 21)})
    lookup = FeatureLookup(store, catalog)
    for at in (hours(2), hours(4) - TICK, hours(4), hours(4) + TICK, hours(9)):
        online = lookup.get({"driver_id": [1]}, ["driver_stats:trips"], at=at).columns["trips"]
        assert online == [_offline(catalog, 1, at)], at


def test_a_view_without_ttl_never_expires(stats_view: FeatureView) -> None:
    forever = FeatureView(
        "forever",
        entities=stats_view.entities,
        source=stats_view.source,
        created_timestamp="created",
        features=stats_view.features,
        ttl=None,
    )
    catalog = Catalog([forever])
    with training_set(spine([1], [hours(10_000)]), ["forever:trips"], catalog=catalog) as ts:
        assert ts.to_arrow().column("trips").to_pylist() == [21]
    store = _online_store(forever, {1: (hours(2), 21)})
    got = FeatureLookup(store, catalog).get({"driver_id": [1]}, ["forever:trips"], at=hours(10_000))
    assert got.columns["trips"] == [21]

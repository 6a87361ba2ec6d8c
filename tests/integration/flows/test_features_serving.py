"""Same features offline and online, on SQLite and Redis; the skew check sees a difference."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.config import Workspace
from modelward.errors import CheckFailed
from modelward.features import (
    Catalog,
    FeatureLookup,
    OnlineStore,
    Record,
    check_skew,
    materialize,
    open_online_store,
    training_set,
)
from modelward.features.packing import pack
from modelward.session import Session
from tests import services
from tests.unit.features.support import hours, make_density, make_stats_view, spine, write_stats


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    with Session(sqlite_workspace) as s:
        yield s


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def online(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "redis":
        config = {
            "type": "redis",
            "url": services.redis_url(),
            "key_prefix": f"mwtest{uuid.uuid4().hex[:8]}",
        }
    else:
        config = {"type": "sqlite", "path": str(tmp_path / "online.db")}
    store = open_online_store(config, tmp_path)
    yield store
    store.close()


def test_online_values_equal_the_offline_join(
    session: Session, online: OnlineStore, tmp_path: Path
) -> None:
    stats_view = make_stats_view(write_stats(tmp_path / "stats.parquet"))
    catalog = Catalog([stats_view, make_density(stats_view)])
    materialize([stats_view], end=hours(3.5), session=session, catalog=catalog, store=online)
    try:
        features = ["driver_stats:trips", "driver_stats:city", "trips_per_km"]
        lookup = FeatureLookup(online, catalog)
        served = lookup.get(
            {"driver_id": [1, 2, 9]}, features, request={"km": [2.0, 4.0, 1.0]}, at=hours(3.5)
        )
        with training_set(
            spine([1, 2, 9], [hours(3.5)] * 3, km=[2.0, 4.0, 1.0]), features, catalog=catalog
        ) as ts:
            offline = ts.to_arrow()
        for name in ("trips", "city", "trips_per_km"):
            assert served.columns[name] == offline.column(name).to_pylist()
        assert served.columns["trips_per_km"] == [10.5, 0.0, None]

        report = check_skew(
            "driver_stats", sample=10, session=session, catalog=catalog, store=online
        )
        assert report.passed and report.sampled == 2
        report.raise_for_failure()

        # a value written by a buggy pipeline is caught
        online.write(
            stats_view.online_namespace,
            [
                Record(
                    "2",
                    int(hours(3).timestamp() * 1e6),
                    10**18,
                    pack([7, 3.5, "c"], ["int64", "float64", "string"]),
                )
            ],
        )
        bad = check_skew("driver_stats", sample=10, session=session, catalog=catalog, store=online)
        assert bad.mismatch_rate == {"trips": 0.5, "rating": 0.0, "city": 0.0}
        assert bad.examples["trips"][0]["online"] == 7
        assert bad.examples["trips"][0]["offline"] == 0
        with pytest.raises(CheckFailed, match=r"trips differs for 50\.00% of 2 entities"):
            bad.raise_for_failure()
    finally:
        online.drop(stats_view.online_namespace)


@pytest.mark.redis
def test_online_store_is_chosen_by_config(tmp_path: Path) -> None:
    from modelward.config import init_workspace
    from modelward.features import online_store
    from modelward.features.online.redis import RedisOnlineStore
    from modelward.features.online.sqlite import SqliteOnlineStore

    root = init_workspace(tmp_path / "ws")
    env = {"MODELWARD_IDENTITY__USER": "t"}
    with Session(Workspace.open(root, environ=env)) as s:
        default = online_store(s)
        assert isinstance(default, SqliteOnlineStore)
        assert default.path == root / ".modelward" / "online.db"
        default.close()
    url = services.redis_url()
    with (root / "modelward.toml").open("a") as fh:
        fh.write(f'\n[features.online]\ntype = "redis"\nurl = "{url}"\nkey_prefix = "cfg"\n')
    with Session(Workspace.open(root, environ=env)) as s:
        store = online_store(s)
        assert isinstance(store, RedisOnlineStore)
        assert store.label == url
        store.close()

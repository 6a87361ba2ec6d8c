"""One suite for every online store backend: memory, SQLite and Redis (the real server)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelward.errors import ConfigError, OnlineStoreUnavailable
from modelward.features.online import OnlineStore, Record, open_online_store
from tests import services


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def online(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "redis":
        config = {
            "type": "redis",
            "url": services.redis_url(),
            "key_prefix": f"mwtest{uuid.uuid4().hex[:8]}",
        }
    else:
        config = {"type": request.param}
    store = open_online_store(config, tmp_path)
    yield store
    for ns in ("ns", "other"):
        store.drop(ns)
    store.close()


def rec(key: str, event_us: int, created_us: int = 0, value: bytes = b"") -> Record:
    return Record(key, event_us, created_us, value or f"{key}@{event_us}/{created_us}".encode())


def test_read_returns_records_in_key_order_with_none_for_missing(online: OnlineStore) -> None:
    online.write("ns", [rec("a", 10), rec("b", 20)])
    got = online.read("ns", ["b", "zz", "a"])
    assert got == [rec("b", 20), None, rec("a", 10)]
    assert online.read("ns", ["a"]) == [rec("a", 10)]


def test_unknown_namespace_reads_as_missing(online: OnlineStore) -> None:
    assert online.read("other", ["a", "b"]) == [None, None]
    assert online.count("other") == 0
    assert online.keys("other", 10) == []


def test_newer_record_wins_and_older_one_is_ignored(online: OnlineStore) -> None:
    online.write("ns", [rec("a", 10)])
    online.write("ns", [rec("a", 30)])
    online.write("ns", [rec("a", 20)])  # an older backfill must not go back in time
    assert online.read("ns", ["a"]) == [rec("a", 30)]


def test_created_time_breaks_event_time_ties(online: OnlineStore) -> None:
    online.write("ns", [rec("a", 10, created_us=5)])
    online.write("ns", [rec("a", 10, created_us=3)])
    assert online.read("ns", ["a"]) == [rec("a", 10, 5)]
    online.write("ns", [rec("a", 10, created_us=7)])
    assert online.read("ns", ["a"]) == [rec("a", 10, 7)]


def test_rewriting_the_same_records_is_idempotent(online: OnlineStore) -> None:
    batch = [rec(str(i), 100 + i) for i in range(50)]
    online.write("ns", batch)
    online.write("ns", batch)
    assert online.count("ns") == 50
    assert online.read("ns", [r.key for r in batch]) == batch


def test_batch_read_of_many_entities(online: OnlineStore) -> None:
    batch = [rec(f"k{i}", i) for i in range(1_200)]
    online.write("ns", batch)
    keys = [f"k{i}" for i in range(0, 1_200, 3)] + ["missing"]
    got = online.read("ns", keys)
    assert got[:-1] == batch[::3]
    assert got[-1] is None


def test_namespaces_are_separate_and_drop_removes_one(online: OnlineStore) -> None:
    online.write("ns", [rec("a", 1)])
    online.write("other", [rec("a", 2)])
    online.drop("other")
    assert online.read("other", ["a"]) == [None]
    assert online.read("ns", ["a"]) == [rec("a", 1)]


def test_keys_samples_stored_keys(online: OnlineStore) -> None:
    online.write("ns", [rec(f"k{i}", i) for i in range(20)])
    sample = online.keys("ns", 5)
    assert len(sample) == 5
    assert set(sample) <= {f"k{i}" for i in range(20)}
    assert set(online.keys("ns", 100)) == {f"k{i}" for i in range(20)}


def test_binary_values_and_odd_keys_round_trip(online: OnlineStore) -> None:
    odd = ["a:b", "with space", "ünïcode", "1\x1f2"]
    online.write("ns", [rec(k, 1, value=bytes(range(256))) for k in odd])
    assert [r.value for r in online.read("ns", odd) if r] == [bytes(range(256))] * 4


def test_concurrent_readers_and_a_writer(online: OnlineStore) -> None:
    online.write("ns", [rec(f"k{i}", 1) for i in range(100)])

    def read_all(_: int) -> int:
        return sum(r is not None for r in online.read("ns", [f"k{i}" for i in range(100)]))

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(read_all, i) for i in range(8)]
        online.write("ns", [rec(f"k{i}", 2) for i in range(100)])
        assert [f.result() for f in futures] == [100] * 8


def test_unknown_backend_type_is_a_config_error(tmp_path: Path) -> None:
    unknown = r"features.online.type: unknown online store 'cassandra'"
    with pytest.raises(ConfigError, match=unknown):
        open_online_store({"type": "cassandra"}, tmp_path)
    with pytest.raises(ConfigError, match=r"features.online.pathh"):
        open_online_store({"type": "sqlite", "pathh": "x"}, tmp_path)


def test_unreachable_redis_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    store = open_online_store(
        {
            "type": "redis",
            "url": "redis://127.0.0.1:1/0",
            "connect_timeout_s": 0.5,
            "socket_timeout_s": 0.5,
        },
        tmp_path,
    )
    started = time.monotonic()
    with pytest.raises(
        OnlineStoreUnavailable, match=r"online store redis://127.0.0.1:1/0 is unreachable"
    ):
        store.read("ns", ["a"])
    with pytest.raises(OnlineStoreUnavailable):
        store.write("ns", [rec("a", 1)])
    assert time.monotonic() - started < 5
    store.close()

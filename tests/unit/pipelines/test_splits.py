"""Explicit, stored splits: time-based without leakage, seeded random, reproducible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.pipelines.splits import split_table

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _table(n: int, days: int = 10) -> pa.Table:
    return pa.table(
        {
            "id": list(range(n)),
            "ts": [T0 + timedelta(days=i % days) for i in range(n)],
            "x": [float(i) for i in range(n)],
        }
    )


def test_time_split_puts_the_latest_times_in_test() -> None:
    train, test, manifest = split_table(
        _table(100), kind="time", test_fraction=0.2, seed=1, timestamp="ts", key="id"
    )
    assert max(train.column("ts").to_pylist()) < min(test.column("ts").to_pylist())
    assert manifest["logic"].startswith("time-based: test = ts >= 2025-01-09")
    assert (manifest["train_rows"], manifest["test_rows"]) == (80, 20)


def test_random_split_depends_on_the_seed_not_the_input_order() -> None:
    table = _table(200)
    a = split_table(table, kind="random", test_fraction=0.25, seed=3, timestamp="ts", key="id")
    shuffled = table.take(list(reversed(range(table.num_rows))))
    b = split_table(shuffled, kind="random", test_fraction=0.25, seed=3, timestamp="ts", key="id")
    c = split_table(table, kind="random", test_fraction=0.25, seed=4, timestamp="ts", key="id")
    assert a[2]["test_hash"] == b[2]["test_hash"]
    assert a[2]["test_hash"] != c[2]["test_hash"]
    assert a[2]["seed"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "kfold", "test_fraction": 0.2}, "kind must be 'time' or 'random'"),
        ({"kind": "time", "test_fraction": 1.5}, "test_fraction must be between 0 and 1"),
    ],
)
def test_bad_split_parameters_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        split_table(_table(10), seed=1, timestamp="ts", key="id", **kwargs)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 300),
    days=st.integers(2, 30),
    fraction=st.floats(0.05, 0.95),
    kind=st.sampled_from(["time", "random"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_parts_partition_the_rows(n: int, days: int, fraction: float, kind: str, seed: int) -> None:
    train, test, manifest = split_table(
        _table(n, days), kind=kind, test_fraction=fraction, seed=seed, timestamp="ts", key="id"
    )
    ids_train, ids_test = set(train.column("id").to_pylist()), set(test.column("id").to_pylist())
    assert ids_train.isdisjoint(ids_test)
    assert ids_train | ids_test == set(range(n))
    assert manifest["train_rows"] + manifest["test_rows"] == n

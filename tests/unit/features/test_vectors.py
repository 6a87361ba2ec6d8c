"""Statuses of online values: what each stored state reads as, for any mix of entities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.features import (
    Catalog,
    Entity,
    Feature,
    FeatureLookup,
    FeatureView,
    Record,
    read_vectors,
)
from modelward.features.online.memory import MemoryOnlineStore
from modelward.features.packing import pack, to_us

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
VIEW = FeatureView(
    "stats",
    entities=[Entity("customer", ["customer_id"])],
    source="unused.parquet",
    features=[Feature("tenure", "int64"), Feature("email", "string", pii=True)],
    ttl=timedelta(hours=1),
)
#: what the store holds for an entity, and the status its tenure must read as
STATES = {
    "fresh": "PRESENT",
    "fresh_null": "NULL_VALUE",
    "stale": "OUTSIDE_MAX_AGE",
    "missing": "NOT_FOUND",
}


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(sorted(STATES)), min_size=1, max_size=12), st.booleans())
def test_each_stored_state_reads_as_its_status(states: list[str], may_read_pii: bool) -> None:
    store = MemoryOnlineStore()
    records = []
    for key, state in enumerate(states):
        if state == "missing":
            continue
        at = NOW - (timedelta(hours=2) if state == "stale" else timedelta(minutes=1))
        tenure = None if state == "fresh_null" else key
        records.append(Record(str(key), to_us(at), 0, pack([tenure, "a@b.c"], ["int64", "string"])))
    store.write(VIEW.online_namespace, records)
    lookup = FeatureLookup(store, Catalog([VIEW]))

    vectors = read_vectors(
        lookup,
        {"customer_id": list(range(len(states)))},
        ["stats"],
        may_read_pii=may_read_pii,
        at=NOW,
    )

    keys, tenure, email = vectors.columns
    assert keys.values == list(range(len(states)))
    assert tenure.statuses == [STATES[s] for s in states]
    # a value is served only when fresh; a stale one is withheld like a missing one
    assert tenure.values == [k if s == "fresh" else None for k, s in enumerate(states)]
    assert [t is not None for t in tenure.event_timestamps] == [s != "missing" for s in states]
    if may_read_pii:
        assert email.statuses == ["PRESENT" if s.startswith("fresh") else STATES[s] for s in states]
    else:
        assert email.statuses == ["REDACTED"] * len(states) and set(email.values) == {None}
        assert vectors.redacted == ["email"]

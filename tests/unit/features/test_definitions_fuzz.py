"""Fuzzing the inputs of feature definitions: names, keys, types, TTLs, sources.

Invariant: a definition is built or refused with an InputError naming the view; never any
other exception (a definitions module that fails to load would stop every command that
reads the catalog). A built view has a stable definition hash that changes with what it
promises, and its online namespace is a name any backend can store.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from hypothesis import event, example, given
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.features import Entity, Feature, FeatureView

good_names = st.sampled_from(["trips", "a_b", "rating", "v2"])
good_keys = st.sampled_from(["driver_id", "zone"])
bad_names = st.sampled_from(["", "1x", "has space", "ünï", "x" * 70, "__mw_x", "a-b"])
names = st.one_of(good_names, good_names, good_names, bad_names)
dtypes = st.one_of(
    st.sampled_from(["int64", "float64", "string", "bool", "timestamp"]),
    st.sampled_from(["decimal", "INT64", ""]),
)
ttls = st.one_of(
    st.none(),
    st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400)),
    st.sampled_from(
        [timedelta(0), timedelta(seconds=-1), timedelta(microseconds=1), timedelta(days=3650)]
    ),
)


def _build(view_name: str, keys: list[str], feats: list[tuple[str, str]], ttl: Any) -> FeatureView:
    return FeatureView(
        view_name,
        entities=[Entity("e", keys)] if keys else [],
        source="stats.parquet",
        features=[Feature(n, d) for n, d in feats],  # type: ignore[arg-type]
        ttl=ttl,
    )


@given(
    view_name=names,
    keys=st.lists(
        st.one_of(good_keys, good_keys, good_keys, names), min_size=1, max_size=2, unique=True
    ),
    feats=st.lists(st.tuples(names, dtypes), min_size=1, max_size=3, unique_by=lambda f: f[0]),
    ttl=ttls,
)
@example(view_name="v", keys=["trips"], feats=[("trips", "int64")], ttl=None)  # key == feature
@example(view_name="v", keys=["driver_id"], feats=[("event_timestamp", "int64")], ttl=None)
def test_a_definition_is_built_or_refused_by_name(
    view_name: str, keys: list[str], feats: list[tuple[str, str]], ttl: Any
) -> None:
    try:
        view = _build(view_name, keys, feats, ttl)
    except InputError as exc:
        refused = exc
    else:
        refused = None
    if refused is not None:
        event("refused")
        assert str(refused)
        return
    event("built")
    again = _build(view_name, keys, feats, ttl)
    assert view.definition_hash == again.definition_hash
    assert re.fullmatch(r"[A-Za-z0-9_.:-]+", view.online_namespace), view.online_namespace
    if ttl is not None:
        longer = _build(view_name, keys, feats, ttl + timedelta(seconds=1))
        assert longer.definition_hash != view.definition_hash

"""The online row codec: every value comes back as packed, nulls included, in one layout
shared by every backend; a row of another codec version is refused, not misread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.features.packing import (
    CODEC_VERSION,
    DType,
    entity_key,
    from_us,
    pack,
    to_us,
    unpack,
    unpack_many,
)

_INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "int64": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "float64": st.floats(allow_nan=False),
    "bool": st.booleans(),
    "string": st.text(),
    "timestamp": _INSTANTS,
}


@st.composite
def _rows(draw: st.DrawFn) -> tuple[list[DType], list[Any]]:
    dtypes: list[DType] = draw(st.lists(st.sampled_from(list(_VALUES)), min_size=1, max_size=12))
    values = [draw(st.none() | _VALUES[t]) for t in dtypes]
    return dtypes, values


@settings(max_examples=200, deadline=None)
@given(_rows())
def test_a_packed_row_unpacks_to_the_same_values(row: tuple[list[DType], list[Any]]) -> None:
    dtypes, values = row
    blob = pack(values, dtypes)
    assert blob[0] == CODEC_VERSION
    assert unpack(blob, dtypes) == values
    assert unpack_many([blob, blob], dtypes) == [values, values]


def test_nulls_of_every_type_and_past_eight_features_are_kept_apart_from_zero() -> None:
    # nine features: the null bitmap takes a second byte
    dtypes: list[DType] = ["int64", "float64", "bool", "string", "timestamp"] * 2
    nulls: list[Any] = [None] * 10
    zeros: list[Any] = [0, 0.0, False, "", from_us(0)] * 2
    assert unpack(pack(nulls, dtypes), dtypes) == nulls
    assert unpack(pack(zeros, dtypes), dtypes) == zeros
    mixed = [None, 0.0, None, "", None, 0, None, False, None, from_us(0)]
    assert unpack(pack(mixed, dtypes), dtypes) == mixed


def test_a_row_of_another_codec_version_is_refused() -> None:
    blob = bytes([CODEC_VERSION + 1]) + pack([1], ["int64"])[1:]
    with pytest.raises(ValueError, match=f"codec version {CODEC_VERSION + 1}, expected"):
        unpack(blob, ["int64"])
    with pytest.raises(ValueError, match="codec version"):
        unpack_many([pack([1], ["int64"]), blob], ["int64"])


def test_instants_are_microseconds_since_the_epoch_in_utc() -> None:
    moment = datetime(2026, 6, 10, 3, 0, 0, 7, tzinfo=UTC)
    assert from_us(to_us(moment)) == moment
    assert to_us(datetime(1970, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)) == -1
    assert from_us(0).tzinfo is not None


def test_a_composite_entity_key_cannot_collide_with_a_single_one() -> None:
    assert entity_key([42]) == "42"
    assert entity_key(["a", "b"]) != entity_key(["a b"])
    assert entity_key(["a", "b"]) != entity_key(["ab"])
    assert entity_key([1, 2]) == entity_key(["1", "2"])  # keys compare as text

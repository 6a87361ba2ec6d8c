"""On-demand transforms: outputs cast to their declared types, and a failing row named by
its position and entity keys rather than the whole batch failing anonymously."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from modelward.errors import InputError
from modelward.features.definitions import Entity, Feature, FeatureView, OnDemandView
from modelward.features.transforms import apply_on_demand

DRIVER = Entity("driver", join_keys=["driver_id"])
STATS = FeatureView(
    "driver_stats",
    entities=[DRIVER],
    source="stats.parquet",
    features=[Feature("trips", "int64"), Feature("rating", "float64")],
)
TABLE = pa.table(
    {"driver_id": [10, 11, 12, 13], "trips": [4, 0, 2, 8], "rating": [4.5, 3.0, 5.0, 4.0]}
)


def view(function: Any, outputs: list[Feature] | None = None) -> OnDemandView:
    return OnDemandView(
        "per_trip",
        function=function,
        inputs=[STATS],
        outputs=outputs or [Feature("rating_per_trip", "float64")],
    )


def _per_trip(table: pa.Table) -> dict[str, list[float]]:
    trips = table.column("trips").to_pylist()
    ratings = table.column("rating").to_pylist()
    return {"rating_per_trip": [r / t for r, t in zip(ratings, trips, strict=True)]}


def test_outputs_are_cast_to_the_declared_type_from_a_table_or_a_mapping() -> None:
    as_int = view(
        lambda t: {"trips_x2": [v * 2 for v in t.column("trips").to_pylist()]},
        [Feature("trips_x2", "float64")],
    )
    out = apply_on_demand(as_int, TABLE)
    assert out["trips_x2"].type == pa.float64()
    assert out["trips_x2"].to_pylist() == [8.0, 0.0, 4.0, 16.0]
    as_table = view(lambda t: pa.table({"rating_per_trip": t.column("rating")}))
    assert apply_on_demand(as_table, TABLE)["rating_per_trip"].to_pylist() == [4.5, 3.0, 5.0, 4.0]


def test_the_failing_row_is_named_with_its_position_in_the_whole_input_and_its_keys() -> None:
    with pytest.raises(InputError) as info:
        apply_on_demand(view(_per_trip), TABLE, keys=["driver_id"], row_offset=100)
    err = info.value
    # driver 11 has no trips: the one row that raises on its own, at 100 + 1
    assert (
        "on-demand feature view 'per_trip' (features rating_per_trip) failed on row 101"
        in err.message
    )
    assert "{'driver_id': 11}" in err.message and "ZeroDivisionError" in err.message
    assert err.details["row"] == 101 and err.details["keys"] == {"driver_id": "11"}


def test_an_output_missing_or_of_the_wrong_length_is_named() -> None:
    with pytest.raises(InputError, match="output 'rating_per_trip' missing from the result"):
        apply_on_demand(view(lambda t: {"other": [1] * t.num_rows}), TABLE)
    # wrong for every row on its own: the first row is named, with the rule that failed
    with pytest.raises(InputError, match="failed on row 0: ValueError") as info:
        apply_on_demand(view(lambda t: {"rating_per_trip": [1.0] * (t.num_rows + 1)}), TABLE)
    assert "has 2 values for 1 rows" in info.value.message


def test_a_failure_no_single_row_repeats_is_reported_for_the_batch() -> None:
    def whole_batch_only(table: pa.Table) -> dict[str, list[float]]:
        if table.num_rows > 3:
            raise RuntimeError("needs at most 3 rows")
        return {"rating_per_trip": [0.0] * table.num_rows}

    with pytest.raises(InputError) as info:
        apply_on_demand(view(whole_batch_only), TABLE, row_offset=8)
    assert info.value.message.startswith(
        "on-demand feature view 'per_trip' failed on a batch of 4 rows starting at row 8"
    )
    assert "RuntimeError: needs at most 3 rows" in info.value.message


def test_a_result_that_is_not_a_table_or_a_mapping_says_what_to_return() -> None:
    with pytest.raises(InputError, match="returned list; return a pyarrow Table or a mapping"):
        apply_on_demand(view(lambda t: [1.0] * t.num_rows), TABLE)


def test_an_empty_batch_calls_the_function_once_and_returns_empty_outputs() -> None:
    out = apply_on_demand(view(_per_trip), TABLE.slice(0, 0))
    assert out["rating_per_trip"].to_pylist() == []

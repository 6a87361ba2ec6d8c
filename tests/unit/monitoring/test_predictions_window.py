"""A prediction log window as Arrow: typed inputs and predictions, JSON text only where one
field's values disagree in type, and the columns a reader may ask for checked by name."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from modelward.errors import InputError
from modelward.monitoring.predictions.window import (
    WINDOW_COLUMNS,
    WINDOW_FIELDS,
    WindowQuery,
    build_fixed,
    build_window,
    check_columns,
    empty_window,
    needs_payload,
    project,
)


def _fixed(n: int) -> list[list[Any]]:
    values: dict[str, list[Any]] = {
        "cursor": [f"c{i}" for i in range(n)],
        "request_id": [f"r{i}" for i in range(n)],
        "at_us": list(range(n)),
        "endpoint": ["churn"] * n,
        "model": ["churn"] * n,
        "model_version": ["3"] * n,
        "latency_ms": [1.5] * n,
        "degraded": [False] * n,
        "mode": ["online"] * n,
        "role": ["primary"] * n,
        "release_id": [""] * n,
        "error": [""] * n,
    }
    return [values[f.name] for f in WINDOW_FIELDS]


def test_inputs_become_a_struct_with_one_typed_child_per_field_absent_as_null() -> None:
    window = build_window(_fixed(2), [{"age": 30, "plan": "gold"}, {"age": 41}], [0.2, 1])
    assert window.column_names == list(WINDOW_COLUMNS)
    inputs = window.column("inputs").combine_chunks()
    assert inputs.type.field("age").type == pa.int64()
    assert inputs.field("plan").to_pylist() == ["gold", None]
    assert window.column("prediction").type == pa.float64()  # an int and a float: numbers


def test_values_of_one_field_disagreeing_in_type_become_json_text() -> None:
    window = build_window(_fixed(2), [{"x": 1}, {"x": "one"}], [{"p": 1}, {"p": [1, 2]}])
    assert window.column("inputs").combine_chunks().field("x").to_pylist() == ["1", '"one"']
    prediction = window.column("prediction").combine_chunks()
    assert prediction.field("p").to_pylist() == ["1", "[1,2]"]


def test_predictions_of_objects_are_a_struct_and_of_mixed_kinds_text() -> None:
    objects = build_window(_fixed(2), [{}, {}], [{"label": "a", "p": 0.1}, {"label": "b"}])
    assert pa.types.is_struct(objects.column("prediction").type)
    mixed = build_window(_fixed(2), [{}, {}], [0.5, {"label": "a"}])
    assert mixed.column("prediction").to_pylist() == ["0.5", '{"label":"a"}']
    assert build_window(_fixed(1), [{}], [True]).column("prediction").to_pylist() == [True]


def test_the_columns_asked_for_are_checked_by_name_once_each() -> None:
    assert check_columns(None) is None
    assert check_columns(("at_us", "prediction")) == ["at_us", "prediction"]
    with pytest.raises(InputError, match="'score' is not a column of a prediction log window"):
        check_columns(["score"])
    with pytest.raises(InputError, match="each column may be named once") as info:
        check_columns(["at_us", "at_us"])
    assert info.value.details["field"] == "columns"


def test_only_inputs_or_prediction_need_the_payload_decoded() -> None:
    assert needs_payload(None) and needs_payload(["inputs"]) and needs_payload(["prediction"])
    assert not needs_payload(["at_us", "model_version"])
    fixed = build_fixed(_fixed(3), ["model_version", "at_us"])
    assert fixed.column_names == ["model_version", "at_us"] and fixed.num_rows == 3
    assert project(build_window(_fixed(1), [{}], [1.0]), ["role"]).column_names == ["role"]


def test_a_query_keeps_its_endpoint_version_and_half_open_time_range() -> None:
    query = WindowQuery("churn", "3", start_us=10, end_us=20)
    assert query.keeps("churn", "3", 10) and query.keeps("churn", "3", 19)
    assert not query.keeps("churn", "3", 20)  # the end is excluded
    assert not query.keeps("churn", "3", 9) and not query.keeps("churn", "4", 15)
    assert not query.keeps("fraud", "3", 15)
    assert WindowQuery("churn", None, None, None).keeps("churn", "anything", -5)


def test_an_empty_window_has_every_column() -> None:
    window = empty_window()
    assert window.num_rows == 0 and window.column_names == list(WINDOW_COLUMNS)

"""Open Inference Protocol tensors: the protocol's JSON shapes read into rows, answers out."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import RequestInvalid
from modelward.serving.oip import (
    output_tensor,
    request_from_json,
    rows_from_tensors,
)

FIELDS: dict[str, Any] = {"customer_id": "int", "email": "string", "discount": "float"}


def rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return rows_from_tensors(request_from_json(doc, "churn"), FIELDS, "churn")


def errors(doc: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(RequestInvalid) as caught:
        rows(doc)
    found: list[dict[str, str]] = caught.value.details["errors"]
    assert "churn" in caught.value.message
    return found


def per_field(n: int = 2) -> list[dict[str, Any]]:
    return [
        {"name": "customer_id", "datatype": "INT64", "shape": [n], "data": list(range(1, n + 1))},
        {"name": "email", "datatype": "BYTES", "shape": [n, 1], "data": [["a@x"]] * n},
        {"name": "discount", "datatype": "FP32", "shape": [n], "data": [0.5] * n},
    ]


def test_one_tensor_per_field_becomes_one_row_per_element() -> None:
    doc = {
        "id": "r1",
        "parameters": {"x": 1},
        "inputs": per_field(2),
        "outputs": [{"name": "prediction"}],
    }
    assert rows(doc) == [
        {"customer_id": 1, "email": "a@x", "discount": 0.5},
        {"customer_id": 2, "email": "a@x", "discount": 0.5},
    ]
    assert request_from_json(doc, "churn").id == "r1"


def test_a_2d_tensor_is_read_in_the_endpoints_field_order() -> None:
    fields = {"a": "float", "b": "int"}
    doc = {
        "inputs": [
            {
                "name": "input-0",
                "datatype": "FP64",
                "shape": [2, 2],
                "data": [[1.5, 2.0], [3.0, 4.0]],
            }
        ]
    }
    got = rows_from_tensors(request_from_json(doc, "m"), fields, "m")
    # an integral element in an int column is that integer
    assert got == [{"a": 1.5, "b": 2}, {"a": 3.0, "b": 4}]
    assert type(got[0]["b"]) is int
    wrong = {
        "inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 3], "data": [1.0, 2.0, 3.0]}]
    }
    with pytest.raises(RequestInvalid, match=r"one column per input \(2: a, b\), not 3"):
        rows_from_tensors(request_from_json(wrong, "m"), fields, "m")


def test_a_shape_that_does_not_match_the_data_length_is_refused() -> None:
    inputs = per_field(2)
    inputs[0]["shape"] = [3]
    [error] = errors({"inputs": inputs})
    assert error == {"field": "inputs[0].data", "rule": "holds 2 elements but shape [3] says 3"}


def test_an_unknown_datatype_is_refused_by_name() -> None:
    inputs = per_field(1)
    inputs[2]["datatype"] = "FLOAT128"
    [error] = errors({"inputs": inputs})
    assert error["field"] == "inputs[2].datatype"
    assert "unknown datatype 'FLOAT128'" in error["rule"]
    inputs[2]["datatype"] = "FP16"
    [error] = errors({"inputs": inputs})
    assert "FP16 is not supported here" in error["rule"]


def test_a_datatype_or_parameters_of_the_wrong_json_type_are_named_not_a_crash() -> None:
    # found by schemathesis over the gateway's document: an object as datatype was a 500
    tensors = per_field()
    tensors[0] = {**tensors[0], "datatype": {}}
    tensors[2] = {**tensors[2], "parameters": 5}
    found = errors({"inputs": tensors})
    assert found[0]["field"] == "inputs[0].datatype"
    assert found[0]["rule"].startswith("must be a datatype name")
    assert found[1] == {"field": "inputs[2].parameters", "rule": "must be an object"}


def test_an_input_the_model_does_not_take_is_named() -> None:
    inputs = [*per_field(1), {"name": "zip", "datatype": "INT64", "shape": [1], "data": [1]}]
    [error] = errors({"inputs": inputs})
    assert error["field"] == "inputs[3].name"
    assert (
        "'zip' is not an input of model 'churn'; it takes customer_id, email, discount"
        in error["rule"]
    )


def test_missing_inputs_wrong_datatypes_and_elements_are_each_named() -> None:
    inputs = per_field(1)[:2]
    inputs[0]["datatype"] = "FP64"
    inputs[0]["data"] = [1.0]
    found = errors({"inputs": inputs})
    assert {"field": "inputs.discount", "rule": "is required"} in found
    assert any(e["field"] == "inputs[0].datatype" and "send INT64" in e["rule"] for e in found)
    inputs = per_field(1)
    inputs[0]["data"] = ["seven"]
    assert errors({"inputs": inputs}) == [
        {"field": "inputs[0].data[0]", "rule": "must hold integers (INT64)"}
    ]


def test_rows_disagreeing_in_length_and_unknown_outputs_are_refused() -> None:
    inputs = per_field(2)
    inputs[2]["shape"], inputs[2]["data"] = [1], [0.5]
    assert "has 1 rows where the others have 2" in errors({"inputs": inputs})[0]["rule"]
    found = errors({"inputs": per_field(1), "outputs": [{"name": "logits"}]})
    assert found[0]["field"] == "outputs.logits"


def test_the_binary_extension_and_malformed_documents_get_a_clear_error() -> None:
    inputs = per_field(1)
    inputs[0]["parameters"] = {"binary_data_size": 8}
    assert "binary tensor extension is not supported" in errors({"inputs": inputs})[0]["rule"]
    assert errors({"inputz": []})[0]["field"] == "inputz"
    assert (
        errors({"inputs": [{"name": "a", "datatype": "INT64", "shape": [2], "data": [[1], 2]}]})[0][
            "rule"
        ]
        == "nested lists must be regular"
    )


def test_outputs_take_the_datatype_of_what_the_model_answered() -> None:
    assert output_tensor([0.25, 1]) == ("FP64", [2], [0.25, 1])
    assert output_tensor([1, 0]) == ("INT64", [2], [1, 0])
    assert output_tensor([True]) == ("BOOL", [1], [True])
    assert output_tensor(["yes", "no"]) == ("BYTES", [2], ["yes", "no"])
    assert output_tensor([[0.1, 0.9], [0.8, 0.2]]) == ("FP64", [2, 2], [0.1, 0.9, 0.8, 0.2])
    assert output_tensor([{"a": 1}, None]) == ("BYTES", [2], ['{"a":1}', "null"])


elements = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=5),
    st.none(),
)
# a tensor per request field, mostly well-formed: a draw may break one thing or several
tensor = st.fixed_dictionaries(
    {
        "sound": st.sampled_from([True] * 7 + [False]),
        "datatype": st.sampled_from(["INT64", "INT32", "FP64", "FP32", "BYTES", "BOOL", "XX"]),
        "rows": st.integers(0, 3),
        "wide": st.booleans(),
        "extra": st.sampled_from([0, 0, 0, 1, -1]),
        "elements": st.lists(elements, min_size=4, max_size=4),
        "typed": st.lists(st.integers(-(2**63), 2**63 - 1), min_size=4, max_size=4),
        "texts": st.lists(st.text(max_size=5), min_size=4, max_size=4),
    }
)
PYTHON = {"int": (int,), "string": (str,), "float": (int, float)}
SOUND = {"int": "INT64", "string": "BYTES", "float": "FP64"}


def build(name: str, draw: dict[str, Any], rows_wanted: int) -> dict[str, Any]:
    kind = FIELDS[name]
    if draw["sound"]:  # the datatype and elements that fit the field
        datatype = SOUND[kind]
        pool = draw["texts"] if kind == "string" else draw["typed"]
        if kind == "float":
            pool = [v / 7 for v in pool]
        n, data = rows_wanted, pool[:rows_wanted]
    else:
        datatype = draw["datatype"]
        n = rows_wanted if draw["extra"] == 0 else draw["rows"]
        data = draw["elements"][: max(n + draw["extra"], 0)]
    return {
        "name": name,
        "datatype": datatype,
        "shape": [n, 1] if draw["wide"] else [n],
        "data": [[v] for v in data] if draw["wide"] else data,
    }


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    drawn=st.lists(tensor, min_size=3, max_size=3),
    present=st.lists(st.sampled_from([True] * 9 + [False]), min_size=3, max_size=3),
    n=st.integers(0, 3),
)
def test_any_tensors_are_read_as_typed_rows_or_refused_naming_a_field(
    drawn: list[dict[str, Any]], present: list[bool], n: int
) -> None:
    """The contract: ``n`` rows holding every field in its type, or an error naming fields."""
    inputs = [
        build(name, draw, n)
        for (name, draw, keep) in zip(FIELDS, drawn, present, strict=True)
        if keep
    ]
    try:
        got = rows({"inputs": inputs})
    except RequestInvalid as exc:
        found = exc.details["errors"]
        assert found and all(e["field"].startswith("inputs") and e["rule"] for e in found)
        return
    assert len(got) == n > 0
    for row in got:
        assert list(row) == list(FIELDS)
        for name, kind in FIELDS.items():
            assert type(row[name]) in PYTHON[kind], (name, row[name])

"""Each type rule of the request schema at its edge, on both of its paths.

The validator has a fast path (a row with exactly the declared fields, each passing its
check) and a slow path that names every broken rule. ``true`` is an ``int`` to Python
(``isinstance(True, int)``), so a check written with ``isinstance`` would let a boolean
into a 64-bit integer or a float field: these cases pin that it does not, on both paths.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from modelward.errors import MalformedRequest, RequestInvalid
from modelward.serving.problems import problem_body
from modelward.serving.schema import RequestSchema

SCHEMA = RequestSchema("churn", {"x": "float", "n": "int", "ok": "bool", "s": "string"}, 3)
GOOD = {"x": 1.5, "n": 2, "ok": True, "s": "a"}

RULES = {
    "x": "must be a finite number",
    "n": "must be a 64-bit integer",
    "ok": "must be true or false",
    "s": "must be a string",
}

REFUSED = [
    ("n", True),
    ("n", False),
    ("n", 1.0),
    ("n", "1"),
    ("n", None),
    ("x", True),
    ("x", False),
    ("x", "1.5"),
    ("x", None),
    ("x", float("nan")),
    ("x", float("inf")),
    ("x", float("-inf")),
    ("ok", 1),
    ("ok", 0),
    ("ok", "true"),
    ("ok", None),
    ("s", 1),
    ("s", None),
    ("s", b"a"),
    ("s", ["a"]),
]

ACCEPTED = [
    ("n", 0),
    ("n", -(2**63)),
    ("n", 2**63 - 1),
    ("x", 0),  # an integer is a number
    ("x", -0.0),
    ("x", 1e308),
    ("ok", False),
    ("s", ""),
]


def _errors(body: Any) -> list[tuple[str, str]]:
    with pytest.raises(RequestInvalid) as info:
        SCHEMA.validate(body)
    assert info.value.http_status == 422
    return [(e["field"], e["rule"]) for e in info.value.details["errors"]]


@pytest.mark.parametrize(("field", "value"), REFUSED, ids=lambda v: repr(v))
def test_a_wrong_type_is_refused_by_field_and_rule(field: str, value: Any) -> None:
    assert _errors({"inputs": {**GOOD, field: value}}) == [(f"inputs.{field}", RULES[field])]


@pytest.mark.parametrize(("field", "value"), REFUSED, ids=lambda v: repr(v))
def test_a_wrong_type_in_a_batch_names_its_row(field: str, value: Any) -> None:
    body = {"inputs": [GOOD, {**GOOD, field: value}, GOOD]}
    assert _errors(body) == [(f"inputs[1].{field}", RULES[field])]


@pytest.mark.parametrize(("field", "value"), REFUSED, ids=lambda v: repr(v))
def test_a_wrong_type_is_refused_on_the_slow_path_too(field: str, value: Any) -> None:
    # an extra field sends the row down the path that lists every problem
    body = {"inputs": {**GOOD, field: value, "extra": 1}}
    assert _errors(body) == [
        (f"inputs.{field}", RULES[field]),
        ("inputs.extra", "is not a request field of endpoint 'churn'"),
    ]


@pytest.mark.parametrize(("field", "value"), ACCEPTED, ids=lambda v: repr(v))
def test_a_value_at_the_edge_of_its_type_is_accepted_unchanged(field: str, value: Any) -> None:
    rows, batch = SCHEMA.validate({"inputs": {**GOOD, field: value}})
    assert (rows, batch) == ([{**GOOD, field: value}], False)
    assert type(rows[0][field]) is type(value)


def test_the_row_limit_is_inclusive() -> None:
    assert len(SCHEMA.validate({"inputs": [GOOD] * 3})[0]) == 3
    assert _errors({"inputs": [GOOD] * 4}) == [("inputs", "at most 3 rows per request")]


def test_a_missing_field_and_a_wrong_one_are_both_named() -> None:
    assert _errors({"inputs": {"x": True, "ok": True, "s": "a"}}) == [
        ("inputs.x", RULES["x"]),
        ("inputs.n", "is required"),
    ]


def test_rows_that_are_not_objects_are_named() -> None:
    assert _errors({"inputs": [GOOD, 1, [GOOD]]}) == [
        ("inputs[1]", "must be an object"),
        ("inputs[2]", "must be an object"),
    ]


def test_at_most_a_hundred_errors_are_carried_and_ten_shown() -> None:
    schema = RequestSchema("wide", {f"f{i}": "int" for i in range(150)}, 1)
    with pytest.raises(RequestInvalid) as info:
        schema.validate({"inputs": {f"f{i}": "x" for i in range(150)}})
    assert len(info.value.details["errors"]) == 100
    assert "(and 140 more)" in str(info.value)


# --- the messages a caller reads ------------------------------------------------------------
# built inside each test (a module-level schema is built at import, before mutation tools
# or coverage can see it), and compared whole: the text is the interface of a 422


def _refusal(schema: RequestSchema, body: Any) -> RequestInvalid:
    with pytest.raises(RequestInvalid) as info:
        schema.validate(body)
    return info.value


def test_the_summary_names_the_endpoint_and_each_field() -> None:
    schema = RequestSchema("scoring", {"a": "int", "b": "string"}, 2)
    refused = _refusal(schema, {"inputs": {"a": "1", "b": 2}})
    assert str(refused) == (
        "request to endpoint 'scoring' is invalid: inputs.a must be a 64-bit integer; "
        "inputs.b must be a string"
    )
    refused = _refusal(schema, {"inputs": {"a": 1, "b": "x", "c": 0}})
    assert refused.details["errors"] == [
        {"field": "inputs.c", "rule": "is not a request field of endpoint 'scoring'"}
    ]


def test_ten_errors_are_shown_and_the_rest_counted() -> None:
    schema = RequestSchema("wide", {f"f{i}": "int" for i in range(11)}, 1)
    ten = _refusal(schema, {"inputs": {**{f"f{i}": "x" for i in range(10)}, "f10": 1}})
    assert len(ten.details["errors"]) == 10
    assert str(ten).endswith("inputs.f9 must be a 64-bit integer")
    assert "more)" not in str(ten)
    eleven = _refusal(schema, {"inputs": {f"f{i}": "x" for i in range(11)}})
    assert str(eleven).endswith("inputs.f9 must be a 64-bit integer (and 1 more)")
    assert "inputs.f10" not in str(eleven)


def test_the_top_level_shape_is_explained() -> None:
    schema = RequestSchema("m", {"a": "int"}, 2)
    with pytest.raises(MalformedRequest) as info:
        schema.validate([{"a": 1}])
    assert str(info.value) == (
        'the request body must be a JSON object: {"inputs": {...}} or {"inputs": [{...}, ...]}'
    )
    assert _refusal(schema, {"INPUTS": {"a": 1}}).details["errors"] == [
        {"field": "INPUTS", "rule": "unknown top-level field; only 'inputs' is allowed"},
        {"field": "inputs", "rule": "is required"},
    ]
    assert _refusal(schema, {"inputs": 3}).details["errors"] == [
        {"field": "inputs", "rule": "must be an object (one row) or a list of rows"}
    ]
    assert _refusal(schema, {"inputs": [{"a": 1}] * 3}).details["errors"] == [
        {"field": "inputs", "rule": "at most 2 rows per request"}
    ]


def test_a_body_that_is_not_json_says_so() -> None:
    schema = RequestSchema("m", {"a": "int"}, 2)
    with pytest.raises(MalformedRequest, match=r"^the request body is not valid JSON: "):
        schema.parse(b'{"inputs": ')
    assert schema.parse(b'{"inputs": {"a": 1}}') == ([{"a": 1}], False)


def test_beside_inputs_only_the_unknown_field_is_named() -> None:
    schema = RequestSchema("m", {"a": "int"}, 2)
    assert _refusal(schema, {"inputs": {"a": 1}, "debug": True}).details["errors"] == [
        {"field": "debug", "rule": "unknown top-level field; only 'inputs' is allowed"}
    ]


@pytest.mark.parametrize(
    ("field", "sent", "rule"),
    [
        ("n", "9223372036854775808", "must be a 64-bit integer"),
        ("n", "-9223372036854775809", "must be a 64-bit integer"),
        ("x", "1" + "0" * 400, "must be a finite number"),  # overflows a double
        ("x", "1e999", "must be a finite number"),
        ("s", '"\\ud800"', "must be valid Unicode text (a lone surrogate cannot be stored)"),
    ],
)
def test_what_the_log_cannot_carry_is_refused_by_field_and_rule(
    field: str, sent: str, rule: str
) -> None:
    """#15.1: these passed validation, were answered 200, then blocked the prediction log."""
    carriable = RequestSchema("e", {"x": "float", "n": "int", "s": "string"}, 10)
    good = {"x": "1.5", "n": "2", "s": '"a"'}
    body = "{" + ", ".join(f'"{k}": {sent if k == field else v}' for k, v in good.items()) + "}"
    with pytest.raises(RequestInvalid) as refused:
        carriable.parse(b'{"inputs": ' + body.encode() + b"}")
    assert refused.value.details["errors"] == [{"field": f"inputs.{field}", "rule": rule}]


def test_a_refusal_naming_a_lone_surrogate_can_itself_be_answered() -> None:
    schema = RequestSchema("e", {"x": "float"}, 10)
    with pytest.raises(RequestInvalid) as refused:
        schema.parse(b'{"inputs": {"x": 1, "\\ud800": 2}}')
    problem = orjson.loads(problem_body(refused.value, "r1"))
    assert problem["status"] == 422
    assert problem["errors"][0]["field"] == "inputs.\\ud800"


def test_a_float_field_given_an_integer_past_64_bits_gets_the_double_it_denotes() -> None:
    schema = RequestSchema("e", {"x": "float"}, 10)
    (row,), _ = schema.parse(b'{"inputs": {"x": 100000000000000000000000000000}}')
    assert row == {"x": 1e29} and type(row["x"]) is float

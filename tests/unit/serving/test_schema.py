"""Request schema checks: every bad field named, NaN/inf refused, never an unexpected error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelward.errors import MalformedRequest, RequestInvalid
from modelward.serving.schema import RequestSchema

SCHEMA = RequestSchema("churn", {"x": "float", "n": "int", "ok": "bool", "s": "string"}, 10)
GOOD = {"x": 1.5, "n": 2, "ok": True, "s": "a"}


def errors(body: Any) -> list[tuple[str, str]]:
    with pytest.raises(RequestInvalid) as info:
        SCHEMA.validate(body)
    return [(e["field"], e["rule"]) for e in info.value.details["errors"]]


def test_valid_row_and_batch() -> None:
    assert SCHEMA.validate({"inputs": GOOD}) == ([GOOD], False)
    assert SCHEMA.validate({"inputs": [GOOD, GOOD]}) == ([GOOD, GOOD], True)
    assert SCHEMA.validate({"inputs": {**GOOD, "x": 3}})[0][0]["x"] == 3  # ints are numbers


def test_each_bad_field_is_named_with_its_rule() -> None:
    assert errors({"inputs": [GOOD, {**GOOD, "n": 1.5, "ok": 1, "s": None, "zz": 0}]}) == [
        ("inputs[1].n", "must be a 64-bit integer"),
        ("inputs[1].ok", "must be true or false"),
        ("inputs[1].s", "must be a string"),
        ("inputs[1].zz", "is not a request field of endpoint 'churn'"),
    ]
    assert errors({"inputs": {"x": 1.0}}) == [
        ("inputs.n", "is required"),
        ("inputs.ok", "is required"),
        ("inputs.s", "is required"),
    ]
    assert errors({"rows": []}) == [
        ("rows", "unknown top-level field; only 'inputs' is allowed"),
        ("inputs", "is required"),
    ]
    assert errors({"inputs": [GOOD] * 11}) == [("inputs", "at most 10 rows per request")]
    assert errors({"inputs": []}) == [("inputs", "must hold at least one row")]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_by_field(literal: str) -> None:
    body = '{"inputs": {"x": LIT, "n": 1, "ok": true, "s": ""}}'.replace("LIT", literal)
    with pytest.raises(RequestInvalid) as info:
        SCHEMA.parse(body.encode())
    assert info.value.details["errors"] == [
        {"field": "inputs.x", "rule": "must be a finite number"}
    ]


@pytest.mark.parametrize("body", [b"", b"{", b"[1, 2", b"\xff\xfe", b'"just a string"', b"[]"])
def test_malformed_bodies_are_400s(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        SCHEMA.parse(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(st.sampled_from(["x", "n", "ok", "s", "other"]), json_values, max_size=5)
    | json_values
)
def test_any_json_either_validates_or_is_refused_cleanly(data: Any) -> None:
    body = json.dumps({"inputs": data}).encode()
    refused: RequestInvalid | MalformedRequest | None = None
    try:
        rows, _ = SCHEMA.parse(body)
    except (RequestInvalid, MalformedRequest) as exc:
        refused = exc
    if refused is None:
        assert rows[0].keys() == GOOD.keys()
    else:
        assert refused.http_status in (400, 422)
        for err in refused.details.get("errors", []):
            assert err["field"].startswith("inputs") and err["rule"]


INT64 = st.integers(-(2**63), 2**63 - 1)


@given(
    st.fixed_dictionaries(
        {
            "x": st.floats(allow_nan=False, allow_infinity=False)
            | st.integers(-(2**63), 2**63 - 1),
            "n": st.integers(-(2**63), 2**63 - 1),
            "ok": st.booleans(),
            "s": st.text(),
        }
    )
)
def test_every_valid_row_is_accepted_unchanged(row: dict[str, Any]) -> None:
    assert SCHEMA.parse(json.dumps({"inputs": row}).encode()) == ([row], False)


def test_integers_beyond_64_bits_are_refused_by_field() -> None:
    body = json.dumps({"inputs": {**GOOD, "n": 2**64}}).encode()
    with pytest.raises(RequestInvalid, match=r"inputs\.n must be a 64-bit integer"):
        SCHEMA.parse(body)

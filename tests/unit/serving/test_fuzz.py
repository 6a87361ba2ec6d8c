"""Fuzzing the gateway's trust boundary: request bodies and endpoint definitions.

Invariants, for any input at all:

- the request parser answers rows, or a 400/422 problem naming the field; never any other
  exception (which the gateway would turn into a 500);
- what it accepts can be logged: written to the prediction log, read back equal;
- an endpoint definition that is accepted can be stored, read back and served.

Strategies aim at the edges: integers at and past 64 bits, floats written as huge integers,
NaN/Infinity literals, lone surrogates, deep nesting, duplicate keys, and rows that are
right except for one field, so that accepted and refused inputs are both common.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, example, given, settings, target
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from modelward.errors import InputError, MalformedRequest, RequestInvalid
from modelward.monitoring.predictions import PredictionRecord
from modelward.monitoring.predictions.sqlite import SqlitePredictionSink
from modelward.serving.endpoints import EndpointSpec, parse_spec
from modelward.serving.schema import RequestSchema

FIELDS = {"x": "float", "n": "int", "ok": "bool", "s": "string"}
SCHEMA = RequestSchema("fuzz", FIELDS, 5)
INT64 = (-(2**63), 2**63 - 1)

edge_ints = (
    st.sampled_from(
        [0, -1, 1, INT64[0], INT64[1], INT64[0] - 1, INT64[1] + 1, 2**64, -(2**64), 10**30]
    )
    | st.integers()
)
edge_floats = st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf])
edge_text = st.sampled_from(["", "\x00", "\ud800", "\udfff", "a\ud83d", "é", "\U0001f600", "\\"])
scalars = (
    st.none()
    | st.booleans()
    | edge_ints
    | edge_floats
    | st.floats()
    | edge_text
    | st.text(max_size=6)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
good_value = {
    "x": st.floats(allow_nan=False, allow_infinity=False) | st.integers(*INT64),
    "n": st.integers(*INT64),
    "ok": st.booleans(),
    "s": st.text(max_size=8),
}


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly a right row with one field (or none) swapped for anything at all."""
    row = {k: draw(s) for k, s in good_value.items()}
    kind = draw(st.sampled_from(["good", "one bad value", "missing", "extra"]))
    if kind == "one bad value":
        row[draw(st.sampled_from(list(FIELDS)))] = draw(values)
    elif kind == "missing":
        row.pop(draw(st.sampled_from(list(FIELDS))))
    elif kind == "extra":
        row[draw(st.text(max_size=4))] = draw(values)
    event(f"row: {kind}")
    return row


def _encode(data: Any) -> bytes:
    """JSON text as a client may send it: NaN literals, lone surrogates, huge integers."""
    return json.dumps(data, ensure_ascii=True, allow_nan=True).encode()


bodies = st.one_of(
    st.builds(lambda r: _encode({"inputs": r}), rows()),
    st.builds(lambda rs: _encode({"inputs": rs}), st.lists(rows(), max_size=7)),
    st.builds(_encode, values),
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"",
            b"{",
            b'{"inputs": {}}',
            b'{"inputs": {"x": 1, "x": 2}}',
            b"[" * 5_000 + b"]" * 5_000,
            b'{"inputs": ' + b"[" * 3_000 + b"]" * 3_000 + b"}",
            b'{"inputs": {"x": NaN, "n": 1, "ok": true, "s": ""}}',
            b'{"inputs": {"x": 1e999, "n": 1, "ok": true, "s": ""}}',
            b"\xef\xbb\xbf{}",  # a byte-order mark
        ]
    ),
)


def _parse(body: bytes) -> tuple[list[dict[str, Any]], bool] | None:
    try:
        return SCHEMA.parse(body)
    except (MalformedRequest, RequestInvalid) as exc:
        refused = exc
    assert refused.http_status in (400, 422)
    for err in refused.details.get("errors", []):
        assert isinstance(err["field"], str) and err["rule"]
    if currently_in_test_context():
        event(f"refused {refused.http_status}")
    return None


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_any_body_is_answered_or_refused_as_a_problem(body: bytes) -> None:
    parsed = _parse(body)
    if parsed is not None:
        event("accepted")
        rows_, _ = parsed
        target(float(len(rows_)), label="accepted rows")
        for row in rows_:
            assert row.keys() == FIELDS.keys()


def _loggable(row: dict[str, Any], tmp: Path) -> None:
    sink = SqlitePredictionSink(tmp / "log.db")
    try:
        record = PredictionRecord("r", 1, "fuzz", "m", "1", row, 0.5, 1.0, False)
        sink.write([record])
        (back,) = sink.read()
        assert back.inputs == row
    finally:
        sink.close()
        (tmp / "log.db").unlink(missing_ok=True)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.builds(lambda r: _encode({"inputs": r}), rows()))
def test_whatever_is_accepted_can_be_logged_and_read_back(tmp_path: Path, body: bytes) -> None:
    parsed = _parse(body)
    if parsed is None:
        return
    (row,) = parsed[0]
    assert _carriable(row), row
    event("accepted and logged")
    _loggable(row, tmp_path)


def _carriable(row: dict[str, Any]) -> bool:
    for v in row.values():
        if type(v) is int and not INT64[0] <= v <= INT64[1]:
            return False
        if type(v) is str:
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


GOOD = {"x": 1.5, "n": 2, "ok": True, "s": "a"}


def test_nothing_is_accepted_that_the_log_cannot_carry(tmp_path: Path) -> None:
    parsed = _parse(b'{"inputs": {"x": 1.5, "n": 2, "ok": true, "s": "\\ud800"}}')
    if parsed is not None:
        _loggable(parsed[0][0], tmp_path)


@pytest.mark.parametrize("value", [2**63, 2**64 - 1])
def test_an_integer_beyond_int64_is_refused_by_field(value: int) -> None:
    body = _encode({"inputs": {**GOOD, "n": value}})
    assert _parse(body) is None


@pytest.mark.parametrize("value", [2**64, 10**30, -(2**63) - 1])
def test_integers_past_what_orjson_reads_as_int_never_reach_an_int_field(value: int) -> None:
    assert _parse(_encode({"inputs": {**GOOD, "n": value}})) is None


def test_a_float_field_sent_as_a_huge_integer_is_a_float_that_can_be_logged(
    tmp_path: Path,
) -> None:
    parsed = _parse(_encode({"inputs": {**GOOD, "x": 10**30}}))
    assert parsed is not None
    (row,) = parsed[0]
    assert row["x"] == 1e30
    _loggable(row, tmp_path)


# --- endpoint definitions ---------------------------------------------------------------------

specs = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["churn", "a.b-c_1", "", "x" * 129, "bad name", "../etc"]),
        "model": st.sampled_from(["churn@production", "churn@3", "churn", "@1", "c@-1"]),
        "request": st.dictionaries(
            st.sampled_from(["customer_id", "email", "x", "1bad", "ok_2"]),
            st.sampled_from(["float", "int", "bool", "string", "decimal"]),
            max_size=4,
        ),
    },
    optional={
        "entity_keys": st.lists(st.sampled_from(["customer_id", "x", "nope"]), max_size=2),
        "features": st.lists(st.sampled_from(["stats:tenure", "stats"]), max_size=2),
        "pii_fields": st.lists(st.sampled_from(["email", "nope"]), max_size=2),
        "latency_budget_ms": edge_floats | st.sampled_from([0, 1, 60_000, 60_001, -5]),
        "cache_ttl_s": edge_floats | st.integers(-2, 2),
        "max_batch": edge_ints,
        "max_rows": edge_ints,
        "fallback": st.one_of(
            st.none(),
            st.fixed_dictionaries({"response": scalars | values}),
            st.fixed_dictionaries({"model": st.sampled_from(["churn@2", "churn", "x@y@z"])}),
            st.fixed_dictionaries({"model": st.just("churn@2"), "response": st.just(0.0)}),
        ),
        "output": st.sampled_from(["auto", "proba", "predict", "logits"]),
        "callers": st.lists(st.sampled_from(["alice", "role:admin", ""]), max_size=2),
        "unknown_key": st.just(1),
    },
)


def _stored_and_back(spec: EndpointSpec) -> EndpointSpec:
    """What storing in the database (JSON) and reading back does to a spec."""
    stored = json.loads(json.dumps(spec.model_dump(mode="json"), allow_nan=False))
    return EndpointSpec.model_validate(stored)


@settings(max_examples=300, deadline=None)
@given(specs)
def test_an_endpoint_definition_is_accepted_whole_or_refused_by_field(data: dict[str, Any]) -> None:
    try:
        spec = parse_spec(data)
    except InputError as exc:
        refused = exc
    else:
        refused = None
    if refused is not None:
        assert str(refused).startswith("invalid endpoint: ")
        assert refused.details["field"] == "endpoint"
        event("refused")
        return
    event("accepted")
    back = _stored_and_back(spec)
    assert back == spec
    RequestSchema(back.name, back.request, back.max_rows)  # can be served


@given(st.sampled_from([math.nan, math.inf, -math.inf, [math.nan], {"p": math.inf}]))
@example(math.nan)
@settings(deadline=None)
def test_an_accepted_fallback_response_can_be_stored(response: Any) -> None:
    data = {"name": "churn", "model": "churn@1", "request": {"x": "float"}}
    try:
        spec = parse_spec({**data, "fallback": {"response": response}})
    except InputError:
        return
    assert _stored_and_back(spec) == spec
    orjson.dumps(spec.model_dump(mode="json"))

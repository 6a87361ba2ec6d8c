"""Typed pipeline parameters: parsing text, checking Python values, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.pipelines import Param
from modelward.pipelines.params import parse_assignments, resolve_params

DECLARED = {
    "seed": Param(int, default=7),
    "rate": Param(float, default=0.1),
    "name": Param(str, default="x"),
    "deep": Param(bool, default=False),
    "split": Param(str, default="time", choices=("time", "random")),
}


def test_text_values_are_parsed_to_the_declared_types() -> None:
    got = resolve_params(
        DECLARED,
        {"seed": "42", "rate": "1e-3", "deep": "yes", "split": "random"},
        pipeline="p",
        from_text=True,
    )
    assert got == {"seed": 42, "rate": 0.001, "name": "x", "deep": True, "split": "random"}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"seed": "abc"}, "parameter 'seed': expected int, got 'abc'"),
        ({"deep": "maybe"}, "parameter 'deep': expected bool"),
        ({"split": "kfold"}, "'kfold' is not one of 'time', 'random'"),
        ({"rate": "nan"}, "parameter 'rate': must be a finite number"),
        ({"sed": "1"}, "unknown parameter"),
    ],
)
def test_wrong_text_values_name_the_parameter(given: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        resolve_params(DECLARED, given, pipeline="p", from_text=True)


def test_python_values_must_have_the_type() -> None:
    with pytest.raises(InputError, match="parameter 'seed': expected int, got str '7'"):
        resolve_params(DECLARED, {"seed": "7"}, pipeline="p")
    with pytest.raises(InputError, match="expected int, got bool"):
        resolve_params(DECLARED, {"seed": True}, pipeline="p")
    assert resolve_params(DECLARED, {"rate": 1}, pipeline="p")["rate"] == 1.0


def test_required_parameter_must_be_given() -> None:
    with pytest.raises(InputError, match="parameter 'target' is required"):
        resolve_params({"target": Param(str)}, {}, pipeline="p")


def test_assignments_are_key_value() -> None:
    assert parse_assignments(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(InputError, match="expected key=value"):
        parse_assignments(["novalue"])
    with pytest.raises(InputError, match="given more than once"):
        parse_assignments(["a=1", "a=2"])


def test_declarations_are_checked() -> None:
    with pytest.raises(InputError, match="not supported"):
        Param(list)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="expected int"):
        Param(int, default="1")


@settings(deadline=None)
@given(st.integers())
def test_int_text_round_trips(value: int) -> None:
    assert Param(int).parse("n", str(value)) == value


@settings(deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_round_trips(value: float) -> None:
    assert Param(float).parse("x", repr(value)) == value


@settings(deadline=None)
@given(st.text())
def test_int_parse_either_succeeds_or_names_the_parameter(text: str) -> None:
    try:
        value = Param(int).parse("n", text)
    except InputError as exc:
        message = str(exc)
    else:
        assert isinstance(value, int)
        return
    assert "parameter 'n'" in message

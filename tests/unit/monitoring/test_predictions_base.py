"""A rejected request's row in the prediction log: its error names the first five broken
rules, is cut to 300 characters, and gives back the request fields it names."""

from __future__ import annotations

from modelward.monitoring.predictions.base import refusal_error, refused_fields


def test_the_error_names_the_broken_rules_and_the_fields_read_back() -> None:
    error = refusal_error(
        [
            {"field": "inputs[0].tenure_months", "rule": "must be a 64-bit integer"},
            {"field": "inputs[0].plan", "rule": "is required"},
        ]
    )
    assert error == (
        "RequestInvalid: inputs[0].tenure_months must be a 64-bit integer; "
        "inputs[0].plan is required"
    )
    assert refused_fields(error) == ["tenure_months", "plan"]


def test_only_the_first_five_rules_and_300_characters_are_kept() -> None:
    errors = [{"field": f"inputs[0].f{i}", "rule": "x" * 80} for i in range(8)]
    error = refusal_error(errors)
    assert len(error) == 300
    assert "f5" not in error and error.startswith("RequestInvalid: inputs[0].f0 ")


def test_an_error_that_is_not_a_refusal_names_no_field() -> None:
    assert refused_fields("ValueError: model failed") == []
    assert refused_fields("") == []

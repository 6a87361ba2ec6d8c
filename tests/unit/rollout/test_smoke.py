"""Blue-green's smoke test: the golden set's parser names each bad field, and the judge
flags exactly the rows green answers differently (or from a fallback)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.rollout import DEFAULT_TOLERANCE, GoldenRows, parse_golden, smoke_test


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        ([1, 2], "golden", "expected a mapping"),
        ({"rows": [], "expected": []}, "golden.rows", "is empty"),
        ({"rows": [1], "expected": [0.5]}, "golden.rows", "list of rows"),
        ({"rows": [{"x": 1}], "expected": [0.5, 0.1]}, "golden.expected", "one prediction per row"),
        ({"rows": [{"x": 1}], "expected": ["high"]}, "golden.expected.0", "not a finite number"),
        ({"rows": [{"x": 1}], "expected": [float("nan")]}, "golden.expected.0", "finite"),
    ],
)
def test_a_bad_golden_set_names_the_field_and_the_rule(data: Any, field: str, rule: str) -> None:
    with pytest.raises(InputError, match=rule) as caught:
        parse_golden(data)
    assert caught.value.details["field"] == field


predictions = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=30
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(expected=predictions, data=st.data())
def test_exactly_the_rows_that_moved_or_fell_back_are_mismatches(
    expected: list[float], data: st.DataObject
) -> None:
    golden = GoldenRows([{"i": i} for i in range(len(expected))], expected)
    assert smoke_test(golden, expected).passed  # the same answers pass
    indices = st.sets(st.integers(0, len(expected) - 1))
    moved, fell_back = data.draw(indices), data.draw(indices)
    served = [v + 1.0 if i in moved else v for i, v in enumerate(expected)]
    result = smoke_test(golden, served, degraded=sorted(fell_back))
    assert {m["row"] for m in result.mismatches} == moved | fell_back
    assert result.passed == (not moved and not fell_back)


def test_answers_within_the_tolerance_pass_and_a_missing_answer_fails() -> None:
    golden = GoldenRows([{"x": 1}, {"x": 2}], [0.25, 0.75])
    assert smoke_test(golden, [[0.25 + DEFAULT_TOLERANCE / 2], 0.75]).passed
    short = smoke_test(golden, [0.25])
    assert not short.passed and short.error is not None and "1 answers for 2" in short.error
    assert not smoke_test(golden, [0.25, "yes"]).passed

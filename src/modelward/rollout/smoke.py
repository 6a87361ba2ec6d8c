"""Blue-green's smoke test: green answers the version's golden rows before the switch.

A golden set is a few representative rows with the predictions the version gave for them
when it was evaluated (the pipeline stores it with the version as
``modelward/golden_set.json``: ``{"rows": [...], "expected": [...]}``). Before a
blue-green release switches, the rows are sent through the gateway's HTTP path to green
(serving's ``switch`` does that); this module judges what came back. Every row must be
answered by the candidate itself (not a fallback) within ``tolerance`` of what is
expected, else there is no switch and the mismatches are the evidence.

>>> golden = GoldenRows([{"x": 1}, {"x": 2}], [0.25, 0.75])
>>> smoke_test(golden, [0.25, 0.5]).mismatches[0]["row"]
1
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelward.errors import InputError

__all__ = [
    "DEFAULT_TOLERANCE",
    "GoldenRows",
    "SmokeResult",
    "failed_smoke",
    "parse_golden",
    "smoke_test",
]

#: absolute difference allowed between an expected and a served prediction (the stored
#: golden predictions are rounded to 8 decimals; a served float32 model differs by ~1e-7)
DEFAULT_TOLERANCE = 1e-6
#: mismatching rows kept as evidence at most
_SHOWN = 20


@dataclass(frozen=True)
class GoldenRows:
    rows: list[dict[str, Any]]
    expected: list[float]


def parse_golden(data: Any, where: str = "golden") -> GoldenRows:
    """A golden set from its stored shape; errors name the field and the rule."""
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected a mapping with rows and expected", field=where)
    rows, expected = data.get("rows"), data.get("expected")
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise InputError(f"{where}.rows: expected a list of rows (mappings)", field=f"{where}.rows")
    if not rows:
        raise InputError(f"{where}.rows: is empty; a smoke test needs rows", field=f"{where}.rows")
    if not isinstance(expected, list) or len(expected) != len(rows):
        raise InputError(
            f"{where}.expected: expected one prediction per row ({len(rows)})",
            field=f"{where}.expected",
        )
    numbers = []
    for i, value in enumerate(expected):
        if _number(value) is None or isinstance(value, list):
            raise InputError(
                f"{where}.expected.{i}: {str(value)[:40]!r} is not a finite number",
                field=f"{where}.expected.{i}",
            )
        numbers.append(float(value))
    return GoldenRows([dict(r) for r in rows], numbers)


@dataclass(frozen=True)
class SmokeResult:
    passed: bool
    rows: int
    tolerance: float
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    #: why no row could be judged (the request failed), if so
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "rows": self.rows,
            "tolerance": self.tolerance,
            "mismatched": len(self.mismatches),
            "mismatches": self.mismatches[:_SHOWN],
            "error": self.error,
        }

    @property
    def summary(self) -> str:
        if self.error is not None:
            return f"the smoke test could not run: {self.error}"
        if self.passed:
            return f"all {self.rows} golden rows answered as expected"
        return f"{len(self.mismatches)} of {self.rows} golden rows differ beyond {self.tolerance:g}"


def failed_smoke(golden: GoldenRows, error: str, tolerance: float) -> SmokeResult:
    """The result when green could not be asked at all (the gateway refused, is down)."""
    return SmokeResult(False, len(golden.rows), tolerance, error=error[:500])


def smoke_test(
    golden: GoldenRows,
    served: Sequence[Any],
    *,
    degraded: Sequence[int] = (),
    tolerance: float = DEFAULT_TOLERANCE,
) -> SmokeResult:
    """Judge green's answers ``served`` (one per golden row); ``degraded``: the rows a
    fallback answered, which are mismatches whatever their value."""
    if len(served) != len(golden.expected):
        return failed_smoke(
            golden, f"{len(served)} answers for {len(golden.expected)} golden rows", tolerance
        )
    fallbacks = set(degraded)
    mismatches = []
    for i, (want, got) in enumerate(zip(golden.expected, served, strict=True)):
        value = _number(got)
        if i in fallbacks:
            mismatches.append(
                {"row": i, "expected": want, "got": got, "why": "a fallback answered"}
            )
        elif value is None:
            mismatches.append({"row": i, "expected": want, "got": got, "why": "not a number"})
        elif abs(value - want) > tolerance:
            mismatches.append({"row": i, "expected": want, "got": value, "diff": abs(value - want)})
    return SmokeResult(not mismatches, len(golden.rows), tolerance, mismatches)


def _number(value: Any) -> float | None:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None

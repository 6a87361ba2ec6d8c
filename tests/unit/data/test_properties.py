"""The contract validator against a brute-force reference, on data built to sit on the rules.

Values are drawn from a few integers around each bound, so values exactly at ``min`` and
``max`` (allowed) and one past them (refused) are common; null fractions are drawn to hit
``max_null_fraction`` exactly. ``event`` records which edges each run reached, and a
counted check at the end asserts that the edges were really exercised.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from modelward.data.contracts import parse_contract
from modelward.data.sources import Source
from modelward.data.validation import validate

LOW, HIGH = 10, 20

values = st.lists(
    st.one_of(st.none(), st.sampled_from([LOW - 1, LOW, LOW + 1, HIGH - 1, HIGH, HIGH + 1])),
    min_size=1,
    max_size=12,
)


EDGES = (
    "a value exactly at min",
    "a value exactly at max",
    "one below min",
    "one above max",
    "null fraction exactly at its limit",
)


def test_bounds_and_null_fraction_match_a_reference(tmp_path: Path) -> None:
    hit: Counter[str] = Counter()

    @settings(max_examples=60, deadline=None, database=None)
    @given(column=values, nulls_allowed=st.sampled_from([0.0, 0.25, 0.5, 1.0]))
    @example(column=[LOW, HIGH], nulls_allowed=0.0)
    @example(column=[LOW - 1, HIGH + 1, None, None], nulls_allowed=0.5)
    @example(column=[None], nulls_allowed=1.0)
    def check(column: list[int | None], nulls_allowed: float) -> None:
        path = tmp_path / f"v{abs(hash((tuple(column), nulls_allowed)))}.parquet"
        pq.write_table(pa.table({"v": pa.array(column, pa.int64())}), path)
        contract = parse_contract(
            {
                "name": "c",
                "columns": {
                    "v": {
                        "type": "integer",
                        "min": LOW,
                        "max": HIGH,
                        "max_null_fraction": nulls_allowed,
                    }
                },
            },
            "test",
        )
        report = validate(Source("parquet", str(path)), contract)
        by_rule = {r.rule: r for r in report.results}

        below = sum(1 for v in column if v is not None and v < LOW)
        above = sum(1 for v in column if v is not None and v > HIGH)
        null_fraction = sum(1 for v in column if v is None) / len(column)
        assert by_rule["columns.v.min"].passed is (below == 0)
        assert by_rule["columns.v.max"].passed is (above == 0)
        assert by_rule["columns.v.max_null_fraction"].passed is (null_fraction <= nulls_allowed)
        if below:
            assert by_rule["columns.v.min"].violations == below
        if above:
            assert by_rule["columns.v.max"].violations == above
        assert report.passed is (below == 0 and above == 0 and null_fraction <= nulls_allowed)

        for edge, reached in zip(
            EDGES,
            (
                LOW in column,
                HIGH in column,
                LOW - 1 in column,
                HIGH + 1 in column,
                null_fraction == nulls_allowed,
            ),
            strict=True,
        ):
            if reached:
                event(edge)
                hit[edge] += 1

    check()
    # the data really sat on the rules: each edge was reached in several examples
    assert all(hit[edge] >= 3 for edge in EDGES), dict(hit)

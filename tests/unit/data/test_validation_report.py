"""Validation, read whole: each rule's message, the report's JSON, and the errors' fields.

The messages are what a user reads in ``modelward validate`` and in a snapshot's stored
report, so each is compared whole here (the plural, the thousands separator, the
"passes vacuously" of an empty column, the hint for a misspelt column), with the
boundary cases of each rule written out: a value exactly at a bound passes, one past it
fails; a null fraction exactly at its limit passes.
"""

from __future__ import annotations

import json
import time as time_module
import uuid
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import DataSettings
from modelward.data.contracts import Contract, parse_contract
from modelward.data.sources import Source
from modelward.data.validation import (
    RuleResult,
    ValidationReport,
    jsonable,
    open_relation,
    read_error,
    type_family,
    validate,
)
from modelward.errors import ContractError, InputError

AS_OF = datetime(2024, 3, 10, tzinfo=UTC)


def parquet(path: Path, columns: dict[str, Any], schema: pa.Schema | None = None) -> Path:
    pq.write_table(pa.table(columns, schema=schema), path)
    return path


def contract(columns: dict[str, Any], table: dict[str, Any] | None = None) -> Contract:
    return parse_contract({"name": "c", "columns": columns, "table": table or {}}, "test")


def rules_of(path: Path, columns: dict[str, Any], **kw: Any) -> dict[str, RuleResult]:
    table = kw.pop("table", None)
    report = validate(path, contract(columns, table), as_of=kw.pop("as_of", AS_OF), **kw)
    return {r.rule: r for r in report.results}


def messages(results: dict[str, RuleResult]) -> dict[str, str]:
    return {rule: r.message for rule, r in results.items()}


@pytest.fixture
def ints(tmp_path: Path) -> Path:
    """Five rows of ``n``: 1, 2, 2, 3 and a null."""
    return parquet(tmp_path / "ints.parquet", {"n": pa.array([1, 2, 2, 3, None], pa.int64())})


# --- jsonable and type_family ----------------------------------------------------------


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (7, 7),
        ("x", "x"),
        (2.5, 2.5),
        (float("inf"), "inf"),
        (float("nan"), "nan"),
        (Decimal("3"), 3),
        (Decimal("3.00"), 3),
        (Decimal("3.25"), 3.25),
        (Decimal("NaN"), "NaN"),
        (Decimal("-Infinity"), "-Infinity"),
        (datetime(2024, 1, 2, 3, 4, tzinfo=UTC), "2024-01-02T03:04:00+00:00"),
        (date(2024, 1, 2), "2024-01-02"),
        (time(3, 4, 5), "03:04:05"),
        (timedelta(hours=36), "36h"),
        (b"\x00\xff", "0x00ff"),
        (bytearray(b"\x01"), "0x01"),
        (memoryview(b"\x02"), "0x02"),
        (b"\xab" * 64, "0x" + "ab" * 64),
        (b"\xab" * 65, "0x" + "ab" * 64 + "..."),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ({1: Decimal("1.5"), "k": [b"\x01"]}, {"1": 1.5, "k": ["0x01"]}),
        ((1, date(2024, 1, 1)), [1, "2024-01-01"]),
        ({Decimal("2")}, [2]),
        (Opaque(), "opaque!"),
    ],
)
def test_jsonable_turns_each_kind_of_value_into_json(value: Any, expected: Any) -> None:
    got = jsonable(value)
    assert got == expected
    assert type(got) is type(expected)
    json.dumps(got, allow_nan=False)


@pytest.mark.parametrize(
    ("duckdb_type", "family"),
    [
        ("TINYINT", "integer"), ("SMALLINT", "integer"), ("INTEGER", "integer"),
        ("BIGINT", "integer"), ("HUGEINT", "integer"), ("UTINYINT", "integer"),
        ("USMALLINT", "integer"), ("UINTEGER", "integer"), ("UBIGINT", "integer"),
        ("UHUGEINT", "integer"), ("bigint", "integer"),
        ("FLOAT", "float"), ("DOUBLE", "float"), ("VARCHAR", "string"),
        ("ENUM('a', 'b')", "string"), ("BOOLEAN", "boolean"), ("BLOB", "binary"),
        ("DATE", "date"), ("DECIMAL(8,2)", "decimal"), ("decimal(38, 0)", "decimal"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp"), ("TIMESTAMP", "timestamp_ntz"),
        ("TIMESTAMP_NS", "timestamp_ntz"), ("TIMESTAMP_MS", "timestamp_ntz"),
        ("TIMESTAMP_S", "timestamp_ntz"), ("TIME", "time"), ("TIME_NS", "time"),
        ("TIME WITH TIME ZONE", "time"), ("UUID", "uuid"), ("INTEGER[]", "integer[]"),
    ],
)  # fmt: skip
def test_type_family_of_each_duckdb_type(duckdb_type: str, family: str) -> None:
    assert type_family(duckdb_type) == family


# --- each rule's message, passing and failing --------------------------------------------


def test_nullable_and_null_fraction_messages_at_their_limits(ints: Path) -> None:
    at_limit = rules_of(ints, {"n": {"nullable": False, "max_null_fraction": 0.2}})
    above = rules_of(ints, {"n": {"max_null_fraction": 0.19}})

    assert messages(at_limit) == {
        "columns.n.exists": "column 'n' present",
        "columns.n.nullable": "column 'n': 1 null but the contract says not nullable",
        "columns.n.max_null_fraction": (
            "column 'n': 20.00% null (1 row of 5); within the limit 20.00%"
        ),
    }
    assert {r.column for r in [*at_limit.values(), *above.values()]} == {"n"}
    fraction = at_limit["columns.n.max_null_fraction"]
    assert (fraction.passed, fraction.observed, fraction.threshold) == (True, 0.2, 0.2)
    assert fraction.violations == 1
    assert fraction.examples == []  # a passing rule shows no rows
    nullable = at_limit["columns.n.nullable"]
    assert (nullable.passed, nullable.observed, nullable.threshold) == (False, 1, 0)
    assert nullable.examples == [{"n": None}]

    failed = above["columns.n.max_null_fraction"]
    assert failed.message == "column 'n': 20.00% null (1 row of 5); above the limit 19.00%"
    assert (failed.passed, failed.violations, failed.examples) == (False, 1, [{"n": None}])


def test_counts_are_plural_and_use_thousands_separators(tmp_path: Path) -> None:
    path = parquet(tmp_path / "many.parquet", {"n": pa.array([None] * 1200 + [1], pa.int64())})

    results = rules_of(path, {"n": {"nullable": False, "max_null_fraction": 0.5}}, examples=1)

    assert results["columns.n.nullable"].message == (
        "column 'n': 1,200 nulls but the contract says not nullable"
    )
    assert results["columns.n.max_null_fraction"].message == (
        "column 'n': 99.92% null (1,200 rows of 1,201); above the limit 50.00%"
    )
    assert results["columns.n.nullable"].examples == [{"n": None}]  # at most `examples`


def test_a_null_fraction_of_no_rows_passes_vacuously(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("n\n")

    result = rules_of(path, {"n": {"max_null_fraction": 0.0}})["columns.n.max_null_fraction"]

    assert result == RuleResult(
        "columns.n.max_null_fraction", "n", True, None, 0.0,
        "column 'n': no rows; passes vacuously", violations=0,
    )  # fmt: skip


def test_no_nulls_passes_the_nullable_rule(tmp_path: Path) -> None:
    path = parquet(tmp_path / "full.parquet", {"n": pa.array([4], pa.int64())})

    result = rules_of(path, {"n": {"nullable": False}})["columns.n.nullable"]

    assert (result.passed, result.observed, result.violations) == (True, 0, 0)
    assert result.message == "column 'n': no nulls"


def test_bounds_at_and_past_the_value_with_their_messages(ints: Path) -> None:
    at = rules_of(ints, {"n": {"min": 1, "max": 3}})
    past = rules_of(ints, {"n": {"min": 2, "max": 2}})

    assert at["columns.n.min"].message == "column 'n': observed min 1 within 1"
    assert at["columns.n.max"].message == "column 'n': observed max 3 within 3"
    passing = (at["columns.n.min"], at["columns.n.max"])
    assert [(r.passed, r.observed, r.violations) for r in passing] == [(True, 1, 0), (True, 3, 0)]
    low, high = past["columns.n.min"], past["columns.n.max"]
    assert low.message == "column 'n': 1 row below 2 (observed min 1)"
    assert high.message == "column 'n': 1 row above 2 (observed max 3)"
    assert (low.passed, low.observed, low.threshold, low.violations) == (False, 1, 2, 1)
    assert (high.passed, high.observed, high.threshold, high.violations) == (False, 3, 2, 1)
    assert low.examples == [{"n": 1}]
    assert high.examples == [{"n": 3}]


def test_string_and_time_bounds_are_shown_as_the_contract_wrote_them(tmp_path: Path) -> None:
    ts = pa.array([datetime(2024, 3, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))
    path = parquet(tmp_path / "st.parquet", {"s": ["b"], "ts": ts})

    results = rules_of(path, {"s": {"min": "c"}, "ts": {"max": "2024-02-01T00:00:00+00:00"}})

    assert results["columns.s.min"].message == "column 's': 1 row below 'c' (observed min 'b')"
    assert results["columns.ts.max"].message == (
        "column 'ts': 1 row above '2024-02-01T00:00:00+00:00' "
        "(observed max 2024-03-01T00:00:00+00:00)"
    )


def test_a_bound_on_an_all_null_column_passes_vacuously(tmp_path: Path) -> None:
    path = parquet(tmp_path / "nulls.parquet", {"n": pa.array([None, None], pa.int64())})

    results = rules_of(path, {"n": {"min": 1, "max": 2}})

    for side in ("min", "max"):
        result = results[f"columns.n.{side}"]
        assert result.message == "column 'n': no non-null values; passes vacuously"
        assert result.column == "n"
        assert (result.passed, result.observed, result.threshold) == (
            True,
            None,
            {"min": 1, "max": 2}[side],
        )
        assert result.violations == 0


def test_allowed_values_regex_and_unique_messages(tmp_path: Path) -> None:
    path = parquet(tmp_path / "s.parquet", {"s": ["a", "b", "b", "zz", None]})

    failing = rules_of(path, {"s": {"allowed_values": ["a", "b"], "regex": "[ab]", "unique": True}})
    passing = rules_of(path, {"s": {"allowed_values": ["a", "b", "zz"], "regex": "[a-z]+"}})

    assert messages(failing) == {
        "columns.s.exists": "column 's' present",
        "columns.s.allowed_values": "column 's': 1 row outside the 2 allowed values",
        "columns.s.regex": "column 's': 1 row not fully matching /[ab]/",
        "columns.s.unique": ("column 's': 1 duplicate (repeats of an earlier non-null value)"),
    }
    assert {r.column for r in [*failing.values(), *passing.values()]} == {"s"}
    allowed = failing["columns.s.allowed_values"]
    assert (allowed.threshold, allowed.observed, allowed.examples) == (["a", "b"], 1, [{"s": "zz"}])
    assert failing["columns.s.regex"].threshold == "[ab]"
    assert failing["columns.s.regex"].examples == [{"s": "zz"}]
    unique = failing["columns.s.unique"]
    assert (unique.passed, unique.observed, unique.threshold) == (False, 1, 0)
    assert unique.examples == [{"s": "b"}, {"s": "b"}]
    assert messages(passing)["columns.s.allowed_values"] == "column 's': every value allowed"
    assert messages(passing)["columns.s.regex"] == "column 's': every value matches /[a-z]+/"
    assert all(r.passed for r in passing.values())


def test_unique_passes_with_its_message_and_two_duplicates_are_plural(tmp_path: Path) -> None:
    path = parquet(tmp_path / "u.parquet", {"u": [1, 2, None, None], "d": [1, 1, 1, 2]})

    results = rules_of(path, {"u": {"unique": True}, "d": {"unique": True}}, examples=2)

    assert results["columns.u.unique"].message == "column 'u': every non-null value unique"
    assert results["columns.u.unique"].passed
    assert results["columns.d.unique"].message == (
        "column 'd': 2 duplicates (repeats of an earlier non-null value)"
    )
    assert results["columns.d.unique"].examples == [{"u": 1, "d": 1}, {"u": 2, "d": 1}]


def test_unique_examples_show_the_first_repeated_values_in_order(tmp_path: Path) -> None:
    keys = ["c", "a", "b", "c", "b", "a", "d", "d"]
    path = parquet(tmp_path / "o.parquet", {"k": keys, "i": list(range(8))})

    result = rules_of(path, {"k": {"unique": True}}, examples=3)["columns.k.unique"]

    assert result.violations == 4
    assert len(result.examples) == 3
    assert [row["k"] for row in result.examples] == sorted(row["k"] for row in result.examples)


def test_regex_on_a_non_string_column_reads_its_text(tmp_path: Path) -> None:
    path = parquet(tmp_path / "r.parquet", {"n": pa.array([10, 20, 3], pa.int64())})

    result = rules_of(path, {"n": {"regex": r"\d\d"}})["columns.n.regex"]

    assert (result.passed, result.violations, result.examples) == (False, 1, [{"n": 3}])


def test_row_count_messages_at_and_past_each_limit(ints: Path) -> None:
    def row_count(rule: dict[str, int]) -> RuleResult:
        return rules_of(ints, {}, table={"row_count": rule})["table.row_count"]

    assert row_count({"min": 5, "max": 5}).message == "5 rows"
    assert row_count({"min": 5, "max": 5}).passed
    assert row_count({"min": 5, "max": 5}).threshold == {"min": 5, "max": 5}
    assert row_count({"min": 6}).message == "5 rows, fewer than 6"
    assert row_count({"max": 4}).message == "5 rows, more than 4"
    assert row_count({"max": 4}).threshold == {"max": 4}
    assert not row_count({"min": 6}).passed
    assert not row_count({"max": 4}).passed
    result = row_count({"min": 1_000})
    assert result.message == "5 rows, fewer than 1,000"
    assert (result.column, result.observed, result.violations, result.examples) == (
        None,
        5,
        None,
        [],
    )


def test_one_row_is_singular(tmp_path: Path) -> None:
    path = parquet(tmp_path / "one.parquet", {"n": pa.array([1], pa.int64())})

    assert (
        rules_of(path, {}, table={"row_count": {"max": 1_000}})["table.row_count"].message
        == "1 row"
    )


def test_freshness_messages_at_the_limit_past_it_and_in_the_future(tmp_path: Path) -> None:
    newest = datetime(2024, 3, 9, tzinfo=UTC)
    ts = pa.array([datetime(2024, 3, 1, tzinfo=UTC), newest], pa.timestamp("us", tz="UTC"))
    path = parquet(tmp_path / "f.parquet", {"ts": ts})

    def fresh(max_age: str, as_of: datetime = AS_OF) -> RuleResult:
        table = {"freshness": {"column": "ts", "max_age": max_age}}
        return rules_of(path, {}, table=table, as_of=as_of)["table.freshness"]

    at_limit, late = fresh("1d"), fresh("23h")
    assert at_limit.passed
    assert at_limit.message == (
        "newest 'ts' is 2024-03-09T00:00:00+00:00, 1d old at 2024-03-10T00:00:00+00:00; limit 1d"
    )
    assert (at_limit.column, at_limit.observed, at_limit.threshold) == (
        "ts", timedelta(days=1), timedelta(days=1)
    )  # fmt: skip
    assert not late.passed
    assert late.message.endswith("; limit 23h")
    assert late.examples == []  # a table rule has no offending rows
    early = fresh("1h", as_of=datetime(2024, 3, 8, tzinfo=UTC))
    assert early.passed
    assert early.message == (
        "newest 'ts' is 2024-03-09T00:00:00+00:00, in the future old at "
        "2024-03-08T00:00:00+00:00; limit 1h"
    )
    assert early.observed == timedelta(days=-1)
    now = fresh("1h", as_of=newest)
    assert now.passed
    assert "in the future" in now.message  # an age of zero is not shown as "0s old"


def test_freshness_of_dates_reads_each_day_from_its_start_in_the_assumed_zone(
    tmp_path: Path,
) -> None:
    path = parquet(tmp_path / "d.parquet", {"day": [date(2024, 3, 9), date(2024, 3, 8)]})
    rule = {"column": "day", "max_age": "1d", "assume_timezone": "UTC"}

    result = rules_of(path, {}, table={"freshness": rule})["table.freshness"]

    assert result.passed
    assert result.observed == timedelta(days=1)
    assert result.message.startswith("newest 'day' is 2024-03-09T00:00:00+00:00, 1d old")
    with pytest.raises(ContractError) as info:
        rules_of(path, {}, table={"freshness": {"column": "day", "max_age": "1d"}})
    assert info.value.message == (
        "table.freshness: column 'day' is a date, so its age is ambiguous; store tz-aware "
        "timestamps, or set freshness.assume_timezone (e.g. 'UTC') to say which zone its "
        "values are in"
    )
    assert info.value.details == {"column": "day", "rule": "table.freshness"}


def test_naive_timestamp_freshness_error_names_the_type(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "n.parquet", {"ts": pa.array([datetime(2024, 3, 9)], pa.timestamp("ms"))}
    )

    with pytest.raises(ContractError) as info:
        rules_of(path, {}, table={"freshness": {"column": "ts", "max_age": "1d"}})

    assert info.value.message.startswith(
        "table.freshness: column 'ts' is a timestamp without time zone (TIMESTAMP), so its "
        "age is ambiguous; store tz-aware timestamps"
    )


def test_freshness_failures_without_a_usable_column(tmp_path: Path) -> None:
    ts = pa.array([None], pa.timestamp("us", tz="UTC"))
    path = parquet(tmp_path / "e.parquet", {"ts": ts, "n": pa.array([1], pa.int64())})

    def fresh(column: str) -> RuleResult:
        table = {"freshness": {"column": column, "max_age": "2d"}}
        return rules_of(path, {}, table=table)["table.freshness"]

    expected = {
        "missing": "freshness column 'missing' is not in the data",
        "n": "freshness column 'n' is BIGINT, not a timestamp",
        "ts": "freshness column 'ts' has no values, so no fresh data",
    }
    for column, message in expected.items():
        result = fresh(column)
        assert (result.rule, result.column, result.passed) == ("table.freshness", column, False)
        assert (result.message, result.observed, result.threshold) == (
            message,
            None,
            timedelta(days=2),
        )


# --- schema rules ---------------------------------------------------------------------


def test_schema_messages_for_a_missing_column_with_and_without_a_hint(ints: Path) -> None:
    results = rules_of(ints, {"nn": {"min": 1}, "zzz": {"type": "integer"}})

    hinted, unhinted = results["columns.nn.exists"], results["columns.zzz.exists"]
    assert hinted.message == "column 'nn' is not in the data; did you mean 'n'?"
    assert unhinted.message == "column 'zzz' is not in the data"
    assert (unhinted.passed, unhinted.observed, unhinted.threshold) == (False, False, True)
    assert (hinted.column, unhinted.column) == ("nn", "zzz")
    assert set(results) == {"columns.nn.exists", "columns.zzz.exists"}


def test_type_messages_whole(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "t.parquet",
        {
            "n": pa.array([1], pa.int64()),
            "ts": pa.array([datetime(2024, 1, 1)], pa.timestamp("us")),
            "s": ["x"],
        },
    )
    spec = {
        "n": {"type": "integer"},
        "ts": {"type": "timestamp", "min": "2024-01-01T00:00:00+00:00"},
        "s": {"type": "integer", "min": 1, "max": 2, "allowed_values": [1]},
    }

    results = rules_of(path, spec)

    ok = results["columns.n.type"]
    assert (ok.passed, ok.observed, ok.threshold) == (True, "integer", "integer")
    assert ok.message == "column 'n' is integer (BIGINT)"
    assert {r.column for r in results.values() if r.rule.startswith("columns.s.")} == {"s"}
    assert results["columns.n.exists"].message == "column 'n' present"
    assert results["columns.ts.type"].message == (
        "column 'ts' holds timestamps without time zone (TIMESTAMP); the contract says "
        "timestamp, an instant: store tz-aware times (e.g. UTC), or declare timestamp_ntz "
        "if wall-clock times are meant; not checked: min"
    )
    assert results["columns.s.type"].message == (
        "column 's' is string (VARCHAR), the contract says integer; "
        "not checked: min, max, allowed_values"
    )
    # the typed rules of a column whose type is wrong are not run at all
    assert "columns.ts.min" not in results
    assert "columns.s.min" not in results


def test_only_a_timestamp_without_time_zone_gets_the_time_zone_advice(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "z.parquet",
        {"s": ["x"], "ts": pa.array([datetime(2024, 1, 1)], pa.timestamp("us"))},
    )

    results = rules_of(path, {"s": {"type": "timestamp"}, "ts": {"type": "date"}})

    assert results["columns.s.type"].message == (
        "column 's' is string (VARCHAR), the contract says timestamp"
    )
    assert results["columns.ts.type"].message == (
        "column 'ts' is timestamp_ntz (TIMESTAMP), the contract says date"
    )


def test_a_wrong_type_still_runs_the_rules_that_need_no_type(tmp_path: Path) -> None:
    path = parquet(tmp_path / "w.parquet", {"s": ["x", "x", None]})

    results = rules_of(path, {"s": {"type": "integer", "nullable": False, "unique": True}})

    assert results["columns.s.type"].message == (
        "column 's' is string (VARCHAR), the contract says integer"
    )
    assert not results["columns.s.nullable"].passed
    assert not results["columns.s.unique"].passed


# --- contract values against the column's type -------------------------------------------


def test_float_and_decimal_bounds_compare_exactly(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "x.parquet",
        {
            "f": pa.array([0.1, 0.30000000000000004], pa.float64()),
            "d": pa.array([Decimal("1.005"), Decimal("2.5")], pa.decimal128(10, 3)),
            "i": pa.array([1, 2], pa.int64()),
        },
    )

    results = rules_of(
        path,
        {
            "f": {"max": 0.30000000000000004, "min": 0.1},
            "d": {"min": "1.005", "max": "2.500"},
            "i": {"max": "1.5"},
        },
    )

    assert results["columns.f.max"].passed
    assert results["columns.f.min"].passed
    assert results["columns.d.min"].passed
    assert results["columns.d.max"].passed
    assert results["columns.i.max"].violations == 1  # 2 > 1.5, not compared as integers
    stricter = rules_of(path, {"d": {"min": "1.0051"}, "f": {"max": 0.3}})
    assert stricter["columns.d.min"].violations == 1
    assert stricter["columns.f.max"].violations == 1


def test_a_decimal_string_with_more_than_30_places_compares_as_a_double(tmp_path: Path) -> None:
    path = parquet(tmp_path / "p.parquet", {"d": pa.array([1.5, 2.5], pa.float64())})

    result = rules_of(path, {"d": {"min": "2." + "0" * 31}})["columns.d.min"]

    assert (result.passed, result.violations) == (False, 1)


def test_a_decimal_string_of_30_places_compares_exactly(tmp_path: Path) -> None:
    path = parquet(tmp_path / "e.parquet", {"n": pa.array([1, 2], pa.int64())})

    result = rules_of(path, {"n": {"min": "1." + "0" * 29 + "1"}})["columns.n.min"]

    assert result.violations == 1  # 1 is below 1.000...001: not rounded to a double's 1.0


def test_a_long_decimal_string_of_31_places_still_applies(tmp_path: Path) -> None:
    # 8 digits before the point and 31 after: 39 digits, more than a DECIMAL holds
    path = parquet(tmp_path / "l.parquet", {"n": pa.array([1, 2], pa.int64())})

    result = rules_of(path, {"n": {"max": "12345678." + "0" * 31}})["columns.n.max"]

    assert (result.passed, result.violations) == (True, 0)


def test_a_bound_that_is_not_a_finite_number_cannot_apply_to_a_numeric_column(
    ints: Path,
) -> None:
    for bound in ("Infinity", "NaN"):
        with pytest.raises(ContractError) as info:
            rules_of(ints, {"n": {"min": bound}})
        assert info.value.message.startswith("columns.n.min: the rule cannot apply to column 'n'")


def test_boolean_and_date_allowed_values(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "b.parquet",
        {"b": [True, False, None, True], "day": [date(2024, 1, 1), date(2024, 1, 2), None, None]},
    )

    results = rules_of(
        path,
        {
            "b": {"allowed_values": [True]},
            "day": {"allowed_values": ["2024-01-02"], "min": "2024-01-01"},
        },
    )

    assert results["columns.b.allowed_values"].examples == [{"b": False, "day": date(2024, 1, 2)}]
    assert results["columns.day.allowed_values"].examples == [{"b": True, "day": date(2024, 1, 1)}]
    assert results["columns.day.min"].passed
    only_false = rules_of(path, {"b": {"allowed_values": [False]}})["columns.b.allowed_values"]
    assert only_false.violations == 2  # the two True


def test_a_rule_that_cannot_apply_names_its_rule_and_column(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "c.parquet", {"n": pa.array([1], pa.int64()), "d": [date(2024, 1, 1)]}
    )

    for spec, rule, column in (
        ({"n": {"min": "many"}}, "columns.n.min", "n"),
        ({"d": {"max": "soon"}}, "columns.d.max", "d"),
        (
            {"n": {"nullable": False}, "d": {"allowed_values": ["x"]}},
            "columns.d.allowed_values",
            "d",
        ),
    ):
        with pytest.raises(ContractError) as info:
            rules_of(path, spec)
        assert info.value.message.startswith(
            f"{rule}: the rule cannot apply to column {column!r}: "
        )
        assert info.value.details == {"rule": rule, "column": column}
        assert info.value.message.count("\n") == 0


# --- examples and PII -------------------------------------------------------------------


def test_a_rule_that_cannot_apply_is_told_apart_from_valid_rules_before_it(
    tmp_path: Path,
) -> None:
    path = parquet(tmp_path / "v.parquet", {"s": ["a"], "n": pa.array([1], pa.int64())})
    spec = {"s": {"allowed_values": ["a", "b"], "min": "a"}, "n": {"allowed_values": [1, "x"]}}

    with pytest.raises(ContractError) as info:
        rules_of(path, spec)

    assert info.value.message == (
        "columns.n.allowed_values: the rule cannot apply to column 'n': Conversion Error: "
        "Could not convert string 'x' to INT64"
    )


def test_pii_columns_are_redacted_in_examples_but_nulls_stay_null(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "pii.parquet",
        {"email": ["a@x.io", None, "c@x.io"], "n": pa.array([5, 6, 7], pa.int64())},
    )

    result = rules_of(path, {"email": {"pii": True}, "n": {"max": 4}})["columns.n.max"]

    assert result.examples == [
        {"email": "<redacted>", "n": 5},
        {"email": None, "n": 6},
        {"email": "<redacted>", "n": 7},
    ]


def test_a_column_that_cannot_be_read_for_the_examples_is_an_input_error(
    tmp_path: Path,
) -> None:
    # the one pass reads only the ruled column; the examples read every column
    path = tmp_path / "two.parquet"
    notes = pa.array([f"note {i}" for i in range(20_000)])
    pq.write_table(pa.table({"n": pa.array(range(20_000), pa.int64()), "note": notes}), path,
                   compression="zstd")  # fmt: skip
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(1)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    for i in range(start + 40, start + chunk.total_compressed_size - 10, 5):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    rules = contract({"n": {"max": 10}})

    counted = validate(path, rules, as_of=AS_OF, examples=0)
    with pytest.raises(InputError) as info:
        validate(path, rules, as_of=AS_OF)

    assert counted.failures[0].violations == 20_000 - 11
    assert info.value.message.startswith(
        f"{path}: cannot read the data: Invalid Input Error: Failed to read file"
    )  # DuckDB's reason follows
    assert info.value.details == {"source": str(path)}


def test_five_examples_by_default(tmp_path: Path) -> None:
    path = parquet(tmp_path / "seven.parquet", {"n": pa.array(range(7), pa.int64())})

    result = rules_of(path, {"n": {"max": -1}})["columns.n.max"]

    assert result.violations == 7
    assert len(result.examples) == 5


def test_examples_are_capped_at_the_number_asked_for(ints: Path) -> None:
    one = rules_of(ints, {"n": {"max": 0}}, examples=1)["columns.n.max"]
    many = rules_of(ints, {"n": {"max": 0}})["columns.n.max"]

    assert one.examples == [{"n": 1}]
    assert many.examples == [{"n": 1}, {"n": 2}, {"n": 2}, {"n": 3}]  # the default of 5
    assert many.violations == 4


# --- the report -------------------------------------------------------------------------


def test_report_fields_and_its_json_whole(ints: Path) -> None:
    checked = contract({"n": {"max": 2}}, {"row_count": {"min": 1}})

    report = validate(ints, checked, as_of=AS_OF, examples=1)

    assert (report.source, report.contract, report.row_count) == (str(ints), "c", 5)
    assert report.contract_hash == checked.content_hash()
    assert report.as_of == AS_OF
    assert [r.rule for r in report.failures] == ["columns.n.max"]
    data = report.to_dict()
    assert isinstance(data.pop("elapsed_s"), float)
    assert data == {
        "source": str(ints),
        "contract": "c",
        "contract_hash": checked.content_hash(),
        "as_of": "2024-03-10T00:00:00+00:00",
        "row_count": 5,
        "passed": False,
        "rules": 3,
        "failed": 1,
        "results": [
            {"rule": "columns.n.exists", "column": "n", "passed": True, "observed": True,
             "threshold": True, "message": "column 'n' present", "examples": [],
             "violations": None},
            {"rule": "columns.n.max", "column": "n", "passed": False, "observed": 3,
             "threshold": 2, "message": "column 'n': 1 row above 2 (observed max 3)",
             "examples": [{"n": 3}], "violations": 1},
            {"rule": "table.row_count", "column": None, "passed": True, "observed": 5,
             "threshold": {"min": 1}, "message": "5 rows", "examples": [],
             "violations": None},
        ],
    }  # fmt: skip


def test_report_elapsed_time_is_rounded_and_passed_needs_every_rule() -> None:
    def result(passed: bool) -> RuleResult:
        return RuleResult("table.row_count", None, passed, 1, {}, "1 row")

    report = ValidationReport(
        "s", "c", "sha256:x", AS_OF, 1, [result(True), result(False)], 1.234567
    )

    assert report.to_dict()["elapsed_s"] == 1.2346
    assert not report.passed
    assert report.failures == [result(False)]
    assert ValidationReport("s", "c", "h", AS_OF, 0, [], 0.0).passed
    assert ValidationReport("s", "c", "h", AS_OF, 1, [result(True)], 0.0).failures == []


def test_as_of_defaults_to_now_in_utc(ints: Path) -> None:
    before, started = datetime.now(UTC), time_module.perf_counter()

    report = validate(ints, contract({}))

    took = time_module.perf_counter() - started
    assert before <= report.as_of <= datetime.now(UTC)
    assert report.as_of.tzinfo is not None
    assert 0 <= report.elapsed_s <= took  # the time of this validation, not a clock reading


class NoOffset(tzinfo):
    """A time zone that does not know its offset: as good as none."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


def test_an_as_of_whose_zone_has_no_offset_is_refused(ints: Path) -> None:
    with pytest.raises(InputError, match="has no time zone"):
        validate(ints, contract({}), as_of=datetime(2024, 1, 1, tzinfo=NoOffset()))


def test_a_naive_as_of_is_refused_naming_the_field(ints: Path) -> None:
    with pytest.raises(InputError) as info:
        validate(ints, contract({}), as_of=datetime(2024, 1, 1, 12))

    assert info.value.message == (
        "as_of 2024-01-01T12:00:00 has no time zone; give an aware time (e.g. UTC)"
    )
    assert info.value.details == {"field": "as_of"}


def test_the_memory_limit_of_the_settings_applies_and_is_named_when_reached(
    tmp_path: Path,
) -> None:
    values = pa.array([f"value-{i:09d}-padding-padding" for i in range(200_000)])
    path = parquet(tmp_path / "wide.parquet", {"s": values})
    tight = DataSettings(duckdb_memory_limit="2MB", duckdb_threads=1)

    with pytest.raises(InputError) as info:
        validate(path, contract({"s": {"unique": True}}), as_of=AS_OF, settings=tight)

    assert info.value.message.startswith(f"{path}: ran out of memory reading the data (")
    assert info.value.message.endswith("); raise data.duckdb_memory_limit in modelward.toml")
    assert info.value.details == {"source": str(path)}


def test_data_pages_that_cannot_be_read_are_an_input_error_naming_the_file(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"n": pa.array(range(50_000), pa.int64())}), good, compression="zstd")
    data = bytearray(good.read_bytes())
    for i in range(200, len(data) // 2, 7):  # the data pages; the footer (the schema) stays
        data[i] ^= 0xFF
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(data))

    with pytest.raises(InputError) as info:
        validate(bad, contract({"n": {"min": 0}}), as_of=AS_OF)

    assert info.value.message.startswith(f"{bad}: cannot read the data: ")
    assert "\n" not in info.value.message
    assert info.value.details == {"source": str(bad)}


# --- reading the source -----------------------------------------------------------------


def test_unreadable_and_empty_files_are_input_errors_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.parquet"
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")

    with pytest.raises(InputError) as gone:
        open_relation(Source("parquet", str(missing)), None)
    with pytest.raises(InputError) as nothing:
        open_relation(Source("parquet", str(empty)), None)

    assert gone.value.message == f"{missing}: cannot read: No such file or directory"
    assert gone.value.details == {"file": str(missing)}
    assert nothing.value.message == f"{empty}: the file is empty (0 bytes)"
    assert nothing.value.details == {"file": str(empty)}


def test_a_file_that_is_not_parquet_is_refused_with_duckdb_s_reason(tmp_path: Path) -> None:
    path = tmp_path / "text.parquet"
    path.write_bytes(b"not a parquet file at all" * 10)

    with pytest.raises(InputError) as info:
        validate(path, contract({}), as_of=AS_OF)

    assert info.value.message == (
        f"{path}: cannot read the data: Invalid Input Error: No magic bytes found at end of "
        f"file '{path}'"
    )
    assert info.value.details == {"source": str(path)}


def test_open_relation_reads_the_schema_only(ints: Path) -> None:
    src, con, schema = open_relation(str(ints), None)
    try:
        assert schema == {"n": "BIGINT"}
        assert src.label == str(ints)
        assert con.execute("SELECT count(*) FROM __mw_schema").fetchone() == (0,)
        assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
    finally:
        con.close()


def test_read_error_names_the_source_and_only_the_first_line() -> None:
    src = Source("parquet", "/data/x.parquet")

    plain = read_error(src, duckdb.IOException("IO Error: bad footer\nmore detail"))
    memory = read_error(src, duckdb.OutOfMemoryException("Out of Memory Error: 1 GiB\nhint"))
    blank = read_error(src, duckdb.IOException("  "))

    assert plain.message == "/data/x.parquet: cannot read the data: IO Error: bad footer"
    assert plain.details == {"source": "/data/x.parquet"}
    assert memory.message == (
        "/data/x.parquet: ran out of memory reading the data (Out of Memory Error: 1 GiB); "
        "raise data.duckdb_memory_limit in modelward.toml"
    )
    assert memory.details == {"source": "/data/x.parquet"}
    assert blank.message == "/data/x.parquet: cannot read the data: IOException"

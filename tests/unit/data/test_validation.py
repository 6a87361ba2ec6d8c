"""Validation: every rule reported with what was seen, a few offending rows, no tracebacks."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelward.data.contracts import Contract, parse_contract
from modelward.data.validation import RuleResult, ValidationReport, type_family, validate
from modelward.errors import ContractError, InputError

AS_OF = datetime(2024, 3, 10, tzinfo=UTC)


def parquet(path: Path, columns: dict[str, Any], schema: pa.Schema | None = None) -> Path:
    pq.write_table(pa.table(columns, schema=schema), path)
    return path


def contract(columns: dict[str, Any], table: dict[str, Any] | None = None) -> Contract:
    return parse_contract({"name": "test", "columns": columns, "table": table or {}}, "test")


def by_rule(report: ValidationReport) -> dict[str, RuleResult]:
    return {r.rule: r for r in report.results}


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    ts = [datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(10)]
    return parquet(
        tmp_path / "orders.parquet",
        {
            "id": pa.array(range(10), pa.int64()),
            "age": pa.array([20, 30, None, 41, 55, 60, 18, 33, 29, 70], pa.int32()),
            "plan": ["free", "pro", "pro", "team", "free", "free", "pro", None, "team", "free"],
            "email": [f"u{i}@example.com" for i in range(10)],
            "amount": pa.array([Decimal(f"{i}.25") for i in range(10)], pa.decimal128(8, 2)),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        },
    )


GOOD = {
    "id": {"type": "integer", "nullable": False, "unique": True, "min": 0},
    "age": {"type": "integer", "min": 18, "max": 70, "max_null_fraction": 0.1},
    "plan": {"type": "string", "allowed_values": ["free", "pro", "team"]},
    "email": {"type": "string", "regex": r"u\d+@example\.com", "pii": True},
    "amount": {"type": "decimal", "min": 0, "max": "9.25"},
    "ts": {"type": "timestamp", "min": "2024-03-01T00:00:00Z"},
}


def test_data_meeting_its_contract_passes_every_rule(orders: Path) -> None:
    table = {"row_count": {"min": 1, "max": 10}, "freshness": {"column": "ts", "max_age": "10d"}}

    report = validate(orders, contract(GOOD, table), as_of=AS_OF)

    assert report.passed, [r.message for r in report.failures]
    assert report.failures == []
    assert report.row_count == 10
    assert report.contract == "test"
    assert report.source == str(orders)
    rules = by_rule(report)
    assert rules["columns.age.min"].observed == 18
    assert rules["columns.age.max_null_fraction"].observed == pytest.approx(0.1)
    assert rules["table.freshness"].observed == AS_OF - datetime(2024, 3, 1, 9, tzinfo=UTC)
    assert all(r.examples == [] for r in report.results)


def test_each_broken_rule_reports_observed_threshold_and_offending_rows(orders: Path) -> None:
    broken = {
        "id": {"min": 3},
        "age": {"max": 60, "nullable": False},
        "plan": {"allowed_values": ["free", "pro"]},
        "email": {"regex": r"u[0-4]@example\.com"},
        "amount": {"max": "5.00"},
    }
    table = {"row_count": {"min": 20}, "freshness": {"column": "ts", "max_age": "1d"}}

    report = validate(orders, contract(broken, table), as_of=AS_OF, examples=2)

    rules = by_rule(report)
    assert not report.passed
    assert {r.rule for r in report.failures} == {
        "columns.id.min", "columns.age.max", "columns.age.nullable", "columns.plan.allowed_values",
        "columns.email.regex", "columns.amount.max", "table.row_count", "table.freshness",
    }  # fmt: skip
    assert (rules["columns.id.min"].observed, rules["columns.id.min"].violations) == (0, 3)
    assert rules["columns.age.max"].observed == 70
    assert rules["columns.age.max"].threshold == 60
    assert rules["columns.age.max"].examples == [
        {"id": 9, "age": 70, "plan": "free", "email": "u9@example.com",
         "amount": Decimal("9.25"), "ts": datetime(2024, 3, 1, 9, tzinfo=UTC)}
    ]  # fmt: skip
    assert rules["columns.age.nullable"].violations == 1
    assert rules["columns.plan.allowed_values"].violations == 2  # "team" twice; null is allowed
    assert [row["plan"] for row in rules["columns.plan.allowed_values"].examples] == ["team"] * 2
    assert rules["columns.email.regex"].violations == 5
    assert len(rules["columns.email.regex"].examples) == 2  # at most `examples`
    assert rules["columns.amount.max"].observed == Decimal("9.25")
    assert rules["table.row_count"].observed == 10
    assert rules["table.row_count"].threshold == {"min": 20}
    assert "1d" in rules["table.freshness"].message
    assert "age" in rules["columns.age.max"].message


def test_duplicates_are_counted_exactly_and_shown(tmp_path: Path) -> None:
    path = parquet(tmp_path / "d.parquet", {"k": ["a", "b", "a", None, None, "c", "a", "b"]})

    report = validate(path, contract({"k": {"unique": True}}), as_of=AS_OF)

    result = by_rule(report)["columns.k.unique"]
    assert not result.passed
    assert result.violations == 3  # two extra "a", one extra "b"; nulls are not duplicates
    assert [row["k"] for row in result.examples] == ["a", "a", "a", "b", "b"]


def test_examples_zero_fetches_none(orders: Path) -> None:
    report = validate(orders, contract({"age": {"max": 20}}), as_of=AS_OF, examples=0)

    assert by_rule(report)["columns.age.max"].examples == []


def test_missing_column_is_a_failed_rule_not_an_error(orders: Path) -> None:
    report = validate(
        orders, contract({"emial": {"type": "string"}, "id": {"min": 0}}), as_of=AS_OF
    )

    rules = by_rule(report)
    missing = rules["columns.emial.exists"]
    assert not missing.passed
    assert "'emial' is not in the data; did you mean 'email'?" in missing.message
    assert "columns.emial.type" not in rules
    assert rules["columns.id.min"].passed


def test_report_to_dict_is_json(orders: Path) -> None:
    report = validate(orders, contract({"amount": {"max": 1}, "ts": {"max": "2024-03-01"}}),
                      as_of=AS_OF)  # fmt: skip

    data = json.loads(json.dumps(report.to_dict()))

    assert data["passed"] is False
    assert data["as_of"] == "2024-03-10T00:00:00+00:00"
    amount = next(r for r in data["results"] if r["rule"] == "columns.amount.max")
    assert amount["observed"] == 9.25
    assert amount["examples"][0]["ts"].startswith("2024-03-01T")
    ts = next(r for r in data["results"] if r["rule"] == "columns.ts.max")
    assert ts["observed"] == "2024-03-01T09:00:00+00:00"


def test_sql_source(orders: Path) -> None:
    report = validate(f"SELECT * FROM read_parquet('{orders}') WHERE age > 50", contract(GOOD),
                      as_of=AS_OF)  # fmt: skip

    assert report.passed
    assert report.row_count == 3
    assert report.source.startswith("sql:")


def test_declared_type_families(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "t.parquet",
        {"i": pa.array([1], pa.int8()), "f": pa.array([1.0], pa.float32()), "b": [True],
         "d": [date(2024, 1, 1)], "x": [b"\x00"], "s": ["a"]},
    )  # fmt: skip
    declared = {"i": "integer", "f": "float", "b": "boolean", "d": "date", "x": "binary",
                "s": "integer"}  # fmt: skip

    report = validate(path, contract({c: {"type": t} for c, t in declared.items()}), as_of=AS_OF)

    assert [r.rule for r in report.failures] == ["columns.s.type"]
    assert type_family("DECIMAL(10,2)") == "decimal"
    assert type_family("UUID") == "uuid"


# --- bad input it must survive ----------------------------------------------------------


def test_csv_with_mixed_types_fails_the_type_rule_naming_the_column(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("id,qty\n1,5\n2,7\n3,seven\n")

    rules = {"id": {"type": "integer"}, "qty": {"type": "integer", "min": 0}}

    report = validate(path, contract(rules), as_of=AS_OF)

    assert [r.rule for r in report.failures] == ["columns.qty.type"]
    failure = report.failures[0]
    assert failure.observed == "string"
    assert failure.threshold == "integer"
    assert "column 'qty' is string (VARCHAR), the contract says integer" in failure.message
    assert "not checked: min" in failure.message


def test_zero_byte_file_is_an_input_error(tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.parquet"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(InputError, match=rf"{name}: the file is empty"):
            validate(tmp_path / name, contract({}), as_of=AS_OF)


def test_header_only_csv_has_zero_rows_and_value_rules_pass_vacuously(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("id,name\n")
    rules = {"id": {"min": "0", "max_null_fraction": 0.5}, "name": {"unique": True}}

    report = validate(path, contract(rules, {"row_count": {"min": 1}}), as_of=AS_OF)

    assert report.row_count == 0
    assert [r.rule for r in report.failures] == ["table.row_count"]
    assert "passes vacuously" in by_rule(report)["columns.id.min"].message
    assert "passes vacuously" in by_rule(report)["columns.id.max_null_fraction"].message


def test_parquet_with_zero_rows(tmp_path: Path) -> None:
    path = parquet(tmp_path / "z.parquet", {"x": pa.array([], pa.int64())})

    report = validate(path, contract({"x": {"type": "integer", "min": 1, "nullable": False}}),
                      as_of=AS_OF)  # fmt: skip

    assert report.passed
    assert report.row_count == 0


def test_corrupt_parquet_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    good = parquet(tmp_path / "good.parquet", {"x": list(range(1000))})
    data = bytearray(good.read_bytes())
    data[-40:-8] = b"\xff" * 32  # garble the footer, keep the magic bytes
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(data))
    random = tmp_path / "random.parquet"
    random.write_bytes(b"not a parquet file at all" * 10)

    for path in (bad, random):
        with pytest.raises(InputError) as info:
            validate(path, contract({"x": {}}), as_of=AS_OF)
        assert str(path) in info.value.message
        assert "cannot read the data" in info.value.message


def test_naive_timestamp_declared_timestamp_fails_with_advice(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "n.parquet", {"ts": pa.array([datetime(2024, 3, 9)], pa.timestamp("ns"))}
    )

    report = validate(path, contract({"ts": {"type": "timestamp"}}), as_of=AS_OF)

    failure = report.failures[0]
    assert failure.rule == "columns.ts.type"
    assert failure.observed == "timestamp_ntz"
    assert "without time zone" in failure.message
    assert "store tz-aware times" in failure.message
    assert validate(path, contract({"ts": {"type": "timestamp_ntz"}}), as_of=AS_OF).passed


def test_freshness_on_naive_timestamps_needs_assume_timezone(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "n.parquet", {"ts": pa.array([datetime(2024, 3, 9, 12)], pa.timestamp("us"))}
    )
    fresh = {"column": "ts", "max_age": "1d"}

    with pytest.raises(
        ContractError, match=r"column 'ts' is a timestamp without time zone.*assume_timezone"
    ):
        validate(path, contract({}, {"freshness": fresh}), as_of=AS_OF)

    utc = validate(
        path, contract({}, {"freshness": {**fresh, "assume_timezone": "UTC"}}), as_of=AS_OF
    )
    tokyo = {**fresh, "assume_timezone": "Asia/Tokyo", "max_age": "12h"}
    report = validate(path, contract({}, {"freshness": tokyo}), as_of=AS_OF)

    assert utc.passed
    assert by_rule(report)["table.freshness"].observed == timedelta(hours=21)
    assert not report.passed


def test_freshness_on_a_missing_or_non_time_column_fails(orders: Path) -> None:
    for column in ("nope", "plan"):
        report = validate(orders, contract({}, {"freshness": {"column": column, "max_age": "1d"}}),
                          as_of=AS_OF)  # fmt: skip
        assert [r.rule for r in report.failures] == ["table.freshness"]


def test_naive_as_of_is_refused(orders: Path) -> None:
    with pytest.raises(InputError, match=r"as_of .* has no time zone"):
        validate(orders, contract({}), as_of=datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"ts": {"min": "last tuesday"}}, "columns.ts.min: the rule cannot apply to column 'ts'"),
        ({"plan": {"max": 5}}, "columns.plan.max: the rule cannot apply to column 'plan'"),
        ({"age": {"min": "ten"}}, "columns.age.min: the rule cannot apply to column 'age'"),
        ({"age": {"allowed_values": ["x"]}}, "columns.age.allowed_values: the rule cannot apply"),
    ],
)
def test_rules_that_cannot_apply_are_contract_errors(
    orders: Path, spec: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ContractError, match=re.escape(expected)) as info:
        validate(orders, contract(spec), as_of=AS_OF)
    assert info.value.exit_code == 2


def test_nan_is_not_null_and_sorts_above_every_number(tmp_path: Path) -> None:
    path = parquet(tmp_path / "nan.parquet", {"x": [1.0, float("nan"), None]})

    report = validate(path, contract({"x": {"max": 10, "max_null_fraction": 0.4}}), as_of=AS_OF)

    assert [r.rule for r in report.failures] == ["columns.x.max"]


# --- the one-pass engine against a brute-force evaluation --------------------------------

ints = st.one_of(st.none(), st.integers(-5, 5))
words = st.one_of(st.none(), st.sampled_from(["a", "b", "ab", "B", "a1", ""]))
floats = st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.1, 2.25, 1e10]))


@st.composite
def tables_and_rules(
    draw: st.DrawFn,
) -> tuple[dict[str, list[Any]], dict[str, Any], dict[str, Any]]:
    n = draw(st.integers(0, 12))
    data = {"i": draw(st.lists(ints, min_size=n, max_size=n)),
            "s": draw(st.lists(words, min_size=n, max_size=n)),
            "f": draw(st.lists(floats, min_size=n, max_size=n))}  # fmt: skip
    i_rules: dict[str, Any] = {"nullable": draw(st.booleans()), "unique": draw(st.booleans())}
    s_rules: dict[str, Any] = {"nullable": draw(st.booleans()), "unique": draw(st.booleans())}
    f_rules: dict[str, Any] = {"nullable": draw(st.booleans()), "unique": draw(st.booleans())}
    for rules in (i_rules, s_rules, f_rules):
        if draw(st.booleans()):
            rules["max_null_fraction"] = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]))
    if draw(st.booleans()):
        i_rules["min"] = draw(st.integers(-6, 6))
    if draw(st.booleans()):
        i_rules["max"] = max(i_rules.get("min", -6), draw(st.integers(-6, 6)))
    if draw(st.booleans()):
        i_rules["allowed_values"] = draw(st.lists(st.integers(-5, 5), min_size=1, max_size=4))
    if draw(st.booleans()):
        s_rules["allowed_values"] = draw(st.lists(st.sampled_from(["a", "b", "ab"]), min_size=1))
    if draw(st.booleans()):
        s_rules["regex"] = draw(st.sampled_from(["a.*", "[a-z]+", "a|b", ".*"]))
    if draw(st.booleans()):
        s_rules["min"] = draw(st.sampled_from(["", "a", "b"]))
    if draw(st.booleans()):
        f_rules["min"] = draw(st.sampled_from([-2, 0, 0.1, 1.5]))
    if draw(st.booleans()):
        f_rules["max"] = draw(st.sampled_from([2.25, 3, 1e10]))
    table = {}
    if draw(st.booleans()):
        table["row_count"] = {"min": draw(st.integers(0, 8)), "max": draw(st.integers(8, 14))}
    return data, {"i": i_rules, "s": s_rules, "f": f_rules}, table


def brute_force(
    data: dict[str, list[Any]], rules: dict[str, Any], table: dict[str, Any]
) -> dict[str, tuple[bool, Any]]:
    """Each rule evaluated row by row in Python: rule -> (passed, violations or observed)."""
    n = len(data["i"])
    out: dict[str, tuple[bool, Any]] = {}
    for col, spec in rules.items():
        values = data[col]
        present = [v for v in values if v is not None]
        nulls = n - len(present)
        base = f"columns.{col}"
        if not spec["nullable"]:
            out[f"{base}.nullable"] = (nulls == 0, nulls)
        if "max_null_fraction" in spec:
            out[f"{base}.max_null_fraction"] = (
                n == 0 or nulls / n <= spec["max_null_fraction"],
                nulls,
            )
        if "min" in spec:
            bad = sum(v < spec["min"] for v in present)
            out[f"{base}.min"] = (bad == 0, bad)
        if "max" in spec:
            bad = sum(v > spec["max"] for v in present)
            out[f"{base}.max"] = (bad == 0, bad)
        if "allowed_values" in spec:
            bad = sum(v not in spec["allowed_values"] for v in present)
            out[f"{base}.allowed_values"] = (bad == 0, bad)
        if "regex" in spec:
            bad = sum(re.fullmatch(spec["regex"], v) is None for v in present)
            out[f"{base}.regex"] = (bad == 0, bad)
        if spec["unique"]:
            dups = len(present) - len(set(present))
            out[f"{base}.unique"] = (dups == 0, dups)
    if "row_count" in table:
        low, high = table["row_count"]["min"], table["row_count"]["max"]
        out["table.row_count"] = (low <= n <= high, n)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables_and_rules())
def test_one_pass_engine_agrees_with_brute_force(
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[dict[str, list[Any]], dict[str, Any], dict[str, Any]],
) -> None:
    data, rules, table = case
    path = tmp_path_factory.mktemp("prop") / "t.parquet"
    parquet(path, data, pa.schema([("i", pa.int64()), ("s", pa.string()), ("f", pa.float64())]))

    report = validate(path, contract(rules, table), as_of=AS_OF)

    expected = brute_force(data, rules, table)
    got = {
        r.rule: (r.passed, r.observed if r.rule == "table.row_count" else r.violations)
        for r in report.results
        if not r.rule.endswith((".exists", ".type"))
    }
    assert got == expected

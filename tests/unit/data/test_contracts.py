"""Data contracts: what a user writes, what they get back when it is wrong."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from modelward.data.contracts import (
    ColumnSpec,
    Contract,
    format_duration,
    load_contract,
    parse_contract,
    parse_duration,
)
from modelward.errors import ContractError

EXAMPLE = """\
name: customers
version: 2
description: one row per customer
columns:
  id: {type: integer, nullable: false, unique: true}
  email:
    type: string
    regex: '[^@]+@[^@]+'
    pii: true
  age: {type: integer, min: 0, max: 130, max_null_fraction: 0.1}
  plan: {type: string, allowed_values: [free, pro, team]}
  signed_up: {type: timestamp, min: 2020-01-01T00:00:00Z}
  birthday: {type: date, max: 2024-12-31}
  notes:
table:
  row_count: {min: 1, max: 1000000}
  freshness: {column: signed_up, max_age: 36h}
"""


def write(tmp_path: Path, text: str, name: str = "contract.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ContractError) as info:
        load_contract(write(tmp_path, text))
    return info.value.message


def test_worked_example_loads_with_every_rule(tmp_path: Path) -> None:
    contract = load_contract(write(tmp_path, EXAMPLE))

    assert contract.name == "customers"
    assert contract.version == 2
    assert contract.pii_columns == ["email"]
    assert contract.columns["age"].max == 130
    assert contract.columns["plan"].allowed_values == ["free", "pro", "team"]
    # YAML reads the bare dates as dates; the contract keeps them as ISO text
    assert contract.columns["signed_up"].min == "2020-01-01T00:00:00+00:00"
    assert contract.columns["birthday"].max == "2024-12-31"
    assert contract.columns["notes"] == ColumnSpec()
    assert contract.table.freshness is not None
    assert contract.table.freshness.max_age == timedelta(hours=36)


def test_yaml_round_trip_keeps_contract_and_hash(tmp_path: Path) -> None:
    contract = load_contract(write(tmp_path, EXAMPLE))

    again = load_contract(write(tmp_path, contract.to_yaml(), "again.yaml"))

    assert again == contract
    assert again.content_hash() == contract.content_hash()
    assert "max_age: 36h" in contract.to_yaml()
    json.dumps(contract.to_dict())  # storable as JSON


def test_json_contract_loads(tmp_path: Path) -> None:
    contract = load_contract(write(tmp_path, EXAMPLE))
    path = write(tmp_path, json.dumps(contract.to_dict()), "contract.json")

    assert load_contract(path) == contract


def test_hash_ignores_column_order_and_duration_spelling() -> None:
    a = parse_contract(
        {"name": "t", "columns": {"a": {"type": "integer"}, "b": {}},
         "table": {"freshness": {"column": "a", "max_age": "36h"}}}, "a",
    )  # fmt: skip
    b = parse_contract(
        {"name": "t", "columns": {"b": None, "a": "integer"},
         "table": {"freshness": {"column": "a", "max_age": "PT36H"}}}, "b",
    )  # fmt: skip
    c = parse_contract({"name": "t", "columns": {"a": {"type": "float"}, "b": {}}}, "c")

    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != c.content_hash()
    assert a.content_hash().startswith("sha256:")


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "name: t\ncolumns:\n  a: {type: integer\n  b: {}\n")

    assert "contract.yaml:" in message
    assert "not valid YAML" in message
    assert ":4:" in message or ":3:" in message


def test_unknown_column_rule_names_column_rule_line_and_known_rules(tmp_path: Path) -> None:
    message = error_of(tmp_path, "name: t\ncolumns:\n  age:\n    type: integer\n    minimum: 0\n")

    assert "contract.yaml:5:" in message
    assert "column 'age': unknown rule 'minimum'" in message
    assert "known rules: type, nullable, max_null_fraction, min, max" in message


def test_unknown_table_rule_and_top_level_key(tmp_path: Path) -> None:
    assert "table: unknown rule 'rowcount'" in error_of(
        tmp_path, "name: t\ncolumns: {}\ntable:\n  rowcount: {min: 1}\n"
    )
    assert "unknown key 'colums'" in error_of(tmp_path, "name: t\ncolums: {a: {}}\n")
    assert "table.freshness: unknown key 'max_aeg'" in error_of(
        tmp_path, "name: t\ntable:\n  freshness: {column: a, max_aeg: 1d}\n"
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("{regex: '[a-'}", "column 'a': regex: '[a-' is not a valid regular expression"),
        ("{regex: '(?=x)x'}", "column 'a': regex: '(?=x)x' is not a valid regular expression"),
        ("{max_null_fraction: 1.5}", "column 'a': max_null_fraction"),
        ("{min: 5, max: 1}", "column 'a': min 5 is greater than max 1"),
        ("{type: integer, min: ten}", "column 'a': min 'ten' must be a number"),
        ("{type: integer, regex: '[0-9]+'}", "column 'a': regex applies to string columns"),
        ("{type: date, min: yesterday}", "'yesterday' is not an ISO 8601 value"),
        ("{type: boolean, allowed_values: [yes, 1]}", "allowed value 1 is not a boolean"),
        ("{type: text}", "column 'a': type: Input should be"),
        ("{allowed_values: []}", "column 'a': allowed_values: must list at least one value"),
        ("{min: true}", "not a boolean"),
    ],
)
def test_bad_column_rules_name_the_column_and_rule(
    tmp_path: Path, spec: str, expected: str
) -> None:
    message = error_of(tmp_path, f"name: t\ncolumns:\n  a: {spec}\n")

    assert expected in message
    assert "contract.yaml:3:" in message


@pytest.mark.parametrize(
    ("freshness", "expected"),
    [
        ("{column: ts, max_age: soon}", "'soon' is not a duration"),
        ("{column: ts, max_age: 3600}", "3600 is not a duration"),
        ("{column: ts, max_age: P1M}", "is not a duration"),
        ("{column: ts, max_age: 0s}", "must be longer than zero"),
        ("{column: ts, max_age: 1d, assume_timezone: Mars/Base}", "not a known time zone"),
        ("{max_age: 1d}", "column: Field required"),
    ],
)
def test_bad_freshness_is_a_contract_error(tmp_path: Path, freshness: str, expected: str) -> None:
    message = error_of(tmp_path, f"name: t\ntable:\n  freshness: {freshness}\n")

    assert "table.freshness" in message
    assert expected in message


def test_regex_is_judged_by_re2_the_engine_that_runs_it() -> None:
    spec = parse_contract({"name": "t", "columns": {"a": {"regex": r"\pL+"}}}, "t").columns["a"]

    assert spec.regex == r"\pL+"  # Python's re would refuse this; RE2 evaluates it


def test_duplicate_key_is_refused_not_silently_dropped(tmp_path: Path) -> None:
    message = error_of(tmp_path, "name: t\ncolumns:\n  a: {min: 0}\n  a: {max: 5}\n")

    assert "contract.yaml:4: 'columns.a' is given twice (first on line 3)" in message


def test_yaml_alias_bombs_are_refused(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    message = error_of(tmp_path, "name: t\n" + bomb + "columns: {}\n")

    assert "YAML aliases (*name) of mappings or lists are not allowed" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the contract file is empty"),
        ("- a\n- b\n", "a contract must be a mapping"),
        ("columns: {}\n", "name: Field required"),
    ],
)
def test_unusable_files(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(tmp_path, text)


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="contract file not found"):
        load_contract(tmp_path / "nope.yaml")
    with pytest.raises(ContractError, match=r"\.yaml, \.yml or \.json"):
        load_contract(write(tmp_path, EXAMPLE, "contract.toml"))


def test_contract_errors_exit_2() -> None:
    with pytest.raises(ContractError) as info:
        parse_contract({"name": "t", "columns": {"a": {"uniqe": True}}}, "inline")
    assert info.value.exit_code == 2
    assert info.value.message.startswith("inline: column 'a': unknown rule 'uniqe'")


# --- durations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("36h", timedelta(hours=36)),
        ("2d", timedelta(days=2)),
        ("15m", timedelta(minutes=15)),
        ("90s", timedelta(seconds=90)),
        ("1w", timedelta(weeks=1)),
        ("1d12h30m", timedelta(days=1, hours=12, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        ("P1D", timedelta(days=1)),
        ("PT36H", timedelta(hours=36)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("p2w", timedelta(weeks=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


durations = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=10_000))


@given(durations)
def test_format_duration_round_trips(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


@given(st.text(max_size=12))
def test_parse_duration_only_ever_raises_value_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except ValueError:
        return
    assert result >= timedelta(0)


@given(st.lists(st.tuples(st.integers(0, 500), st.sampled_from("wdhms")), min_size=1, max_size=5))
def test_compact_durations_add_up(parts: list[tuple[int, str]]) -> None:
    seconds = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
    text = "".join(f"{n}{unit}" for n, unit in parts)

    assert parse_duration(text) == timedelta(seconds=sum(n * seconds[u] for n, u in parts))


# --- round trips over generated contracts -----------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                max_size=8)  # fmt: skip


@st.composite
def column_specs(draw: st.DrawFn) -> ColumnSpec:
    kind = draw(st.sampled_from(["integer", "float", "string", "date", None]))
    rules: dict[str, object] = {"type": kind, "nullable": draw(st.booleans())}
    rules["unique"] = draw(st.booleans())
    rules["pii"] = draw(st.booleans())
    if draw(st.booleans()):
        rules["max_null_fraction"] = draw(st.floats(0, 1))
    if kind in ("integer", "float") and draw(st.booleans()):
        low = draw(st.integers(-1000, 1000))
        rules["min"], rules["max"] = low, low + draw(st.integers(0, 1000))
    if kind == "float" and draw(st.booleans()):
        rules["max"] = draw(st.floats(-1e9, 1e9))
        rules.pop("min", None)
    if kind == "string" and draw(st.booleans()):
        rules["allowed_values"] = draw(st.lists(names, min_size=1, max_size=4))
        rules["regex"] = draw(st.sampled_from(["[a-z]+", ".*", r"\d{3}-\d{4}"]))
    if kind == "date" and draw(st.booleans()):
        rules["min"] = draw(st.dates()).isoformat()
    if draw(st.booleans()):
        rules["description"] = draw(names)
    return ColumnSpec.model_validate(rules)


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    columns = draw(st.dictionaries(names, column_specs(), max_size=5))
    table: dict[str, object] = {}
    if draw(st.booleans()):
        low = draw(st.integers(0, 100))
        table["row_count"] = {"min": low, "max": low + draw(st.integers(0, 100))}
    if columns and draw(st.booleans()):
        table["freshness"] = {"column": next(iter(columns)), "max_age": draw(durations),
                              "assume_timezone": draw(st.sampled_from([None, "UTC"]))}  # fmt: skip
    return Contract.model_validate({"name": draw(names), "columns": columns, "table": table})


@given(contracts())
def test_generated_contracts_round_trip_through_yaml_and_json(contract: Contract) -> None:
    from_yaml = parse_contract(yaml.safe_load(contract.to_yaml()), "yaml")
    from_json = parse_contract(json.loads(json.dumps(contract.to_dict())), "json")

    assert from_yaml == contract
    assert from_json == contract
    assert from_yaml.content_hash() == contract.content_hash()

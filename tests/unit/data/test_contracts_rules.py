"""Data contracts, read whole: each refusal's full message, durations at their edges, and
the stored forms (the hash a snapshot records, the YAML a user reads back).

A contract error is what a user sees when their YAML is wrong, so each message is compared
whole here, with the place it names (the column, the table rule, the line of the file).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from modelward.data.contracts import (
    ColumnSpec,
    Contract,
    FreshnessRule,
    RowCountRule,
    format_duration,
    load_contract,
    parse_contract,
    parse_duration,
    zone_of,
)
from modelward.errors import ContractError


def refusal(columns: Any = None, **top: Any) -> ContractError:
    data = {"name": "t", **({"columns": columns} if columns is not None else {}), **top}
    with pytest.raises(ContractError) as info:
        parse_contract(data, "inline")
    return info.value


def column_refusal(spec: dict[str, Any]) -> str:
    return refusal({"a": spec}).message


def write(tmp_path: Path, text: str | bytes, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def load_refusal(path: Path) -> ContractError:
    with pytest.raises(ContractError) as info:
        load_contract(path)
    return info.value


# --- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" 36h ", timedelta(hours=36)),
        ("0.5s", timedelta(milliseconds=500)),
        ("0.0000015s", timedelta(microseconds=2)),  # rounded to the nearest microsecond
        ("0.0000025s", timedelta(microseconds=2)),  # ... half to even
        ("1.5d", timedelta(hours=36)),
        ("pt1h30m", timedelta(minutes=90)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P1W2D", timedelta(days=9)),
        ("PT2M", timedelta(minutes=2)),
        ("2m", timedelta(minutes=2)),
    ],
)
def test_durations_users_write(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "  ", "P", "PT", "pt", "P1DT", "P1M", "1y", "h", "1h x"])
def test_durations_refused_whole(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)

    assert str(info.value) == (
        f"{text!r} is not a duration; write e.g. '36h', '2d', '1d12h', '15m', '90s' "
        "or ISO 8601 'P1DT12H'"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=-5), "0s"),
        (timedelta(days=1), "1d"),
        (timedelta(weeks=3), "21d"),
        (timedelta(hours=36), "36h"),
        (timedelta(hours=2), "2h"),
        (timedelta(days=1, seconds=1), "24h1s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(seconds=1), "1s"),
        (timedelta(milliseconds=500), "0.5s"),
        (timedelta(minutes=1, microseconds=250_000), "1m0.25s"),
        (timedelta(microseconds=1), "0.000001s"),
        (timedelta(hours=1, minutes=1, seconds=1, microseconds=10), "1h1m1.00001s"),
    ],
)
def test_format_duration_reads_best(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


# --- column rules: every refusal whole ------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"min": True}, "column 'a': min: must be a number or an ISO date/time string, "
                        "not a boolean"),
        ({"max": float("inf")}, "column 'a': max: must be a finite number"),
        ({"max": float("nan")}, "column 'a': max: must be a finite number"),
        ({"min": [1]}, "column 'a': min: must be a number or an ISO date/time string"),
        ({"type": "integer", "min": "ten"},
         "column 'a': min 'ten' must be a number for a integer column"),
        ({"type": "float", "max": "1.5"},
         "column 'a': max '1.5' must be a number for a float column"),
        ({"type": "decimal", "min": "NaN"},
         "column 'a': min 'NaN' must be a number for a decimal column"),
        ({"type": "decimal", "min": "x"},
         "column 'a': min 'x' must be a number for a decimal column"),
        ({"type": "boolean", "min": 0}, "column 'a': min does not apply to a boolean column"),
        ({"type": "binary", "max": "ff"}, "column 'a': max does not apply to a binary column"),
        ({"type": "string", "min": 5}, "column 'a': min 5 must be a string for a string column"),
        ({"type": "timestamp", "min": "noon"},
         "column 'a': min 'noon' is not an ISO 8601 value for a timestamp column"),
        ({"type": "timestamp_ntz", "max": "noon"},
         "column 'a': max 'noon' is not an ISO 8601 value for a timestamp_ntz column"),
        ({"type": "date", "min": "2024-13-01"},
         "column 'a': min '2024-13-01' is not an ISO 8601 value for a date column"),
        ({"type": "time", "max": "25:00"},
         "column 'a': max '25:00' is not an ISO 8601 value for a time column"),
        ({"allowed_values": []}, "column 'a': allowed_values: must list at least one value"),
        ({"allowed_values": [{"x": 1}]},
         "column 'a': allowed_values: allowed value {'x': 1} must be a string, number or boolean"),
        ({"type": "boolean", "allowed_values": [True, "yes"]},
         "column 'a': allowed value 'yes' is not a boolean"),
        ({"type": "integer", "allowed_values": [1, True]},
         "column 'a': allowed value True is a boolean; the column is integer"),
        ({"type": "integer", "allowed_values": [1, "x"]},
         "column 'a': allowed value 'x' must be a number for a integer column"),
        ({"type": "date", "allowed_values": ["2024-02-30"]},
         "column 'a': allowed value '2024-02-30' is not an ISO 8601 value for a date column"),
        ({"type": "integer", "regex": "[0-9]+"},
         "column 'a': regex applies to string columns, not integer"),
        ({"min": 5, "max": 1}, "column 'a': min 5 is greater than max 1"),
        ({"min": "b", "max": "a"}, "column 'a': min 'b' is greater than max 'a'"),
        ({"min": 1, "max": "a"}, "column 'a': min 1 and max 'a' are not of the same kind"),
        ({"type": "decimal", "min": "10", "max": "9.5"},
         "column 'a': min '10' is greater than max '9.5'"),
        ({"min": "2024-01-02", "max": "2024-01-01"},
         "column 'a': min '2024-01-02' is greater than max '2024-01-01'"),
        ({"max_null_fraction": 1.5},
         "column 'a': max_null_fraction: Input should be less than or equal to 1"),
        ({"max_null_fraction": -0.1},
         "column 'a': max_null_fraction: Input should be greater than or equal to 0"),
        ({"minimum": 0}, "column 'a': unknown rule 'minimum' (known rules: type, nullable, "
                         "max_null_fraction, min, max, allowed_values, regex, unique, pii, "
                         "description)"),
    ],
)  # fmt: skip
def test_each_column_refusal_whole(spec: dict[str, Any], message: str) -> None:
    assert column_refusal(spec) == f"inline: {message}"


def test_a_regex_re2_cannot_compile_is_refused_with_its_reason() -> None:
    message = column_refusal({"regex": "[a-"})

    assert (
        message
        == "inline: column 'a': regex: '[a-' is not a valid regular expression: missing ]: [a-"
    )


def test_bounds_compare_by_value_not_by_text() -> None:
    # as text "10" < "9.5" and "...T10:00+05:00" > "...T06:00+00:00"; as values neither
    typed = {"type": "decimal", "min": "9.5", "max": "10"}
    numeric = parse_contract({"name": "t", "columns": {"a": typed}}, "i")
    instants = {"min": "2024-01-01T10:00:00+05:00", "max": "2024-01-01T06:00:00+00:00"}
    timed = parse_contract({"name": "t", "columns": {"a": {"type": "timestamp", **instants}}}, "i")

    assert numeric.columns["a"].min == "9.5"
    assert timed.columns["a"].max == "2024-01-01T06:00:00+00:00"
    assert ColumnSpec(type="decimal", min="1.5", max="1.5").max == "1.5"  # equal bounds are fine
    assert ColumnSpec(min=1, max="2").min == 1  # a number and a numeric text compare
    assert ColumnSpec(min="a", max="b").max == "b"


def test_contract_values_are_normalised_as_stored() -> None:
    spec = ColumnSpec.model_validate(
        {
            "min": Decimal("1.50"),
            "allowed_values": [True, 2, 2.5, "x", Decimal("3.0"), date(2024, 1, 1), time(1, 2)],
        }
    )

    assert spec.min == "1.50"
    when = ColumnSpec(max=datetime(2024, 1, 2, 3, 4, tzinfo=UTC))
    assert when.max == "2024-01-02T03:04:00+00:00"
    assert ColumnSpec(min=date(2024, 1, 1), max="2024-01-02").min == "2024-01-01"
    assert spec.allowed_values == [True, 2, 2.5, "x", "3.0", "2024-01-01", "01:02:00"]
    assert [type(v) for v in spec.allowed_values[:3]] == [bool, int, float]
    assert ColumnSpec(type="time", min="01:00").min == "01:00"
    assert ColumnSpec(type="string", min="anything").min == "anything"
    assert ColumnSpec(type="decimal", max="2.50").max == "2.50"
    assert ColumnSpec(type="boolean", allowed_values=[True, False]).allowed_values == [True, False]
    assert ColumnSpec(type="string", regex="[a-z]+").regex == "[a-z]+"
    assert ColumnSpec() == ColumnSpec(nullable=True, unique=False, pii=False)


def test_allowed_values_that_are_not_a_list_are_refused_by_their_type() -> None:
    assert column_refusal({"allowed_values": "abc"}).startswith(
        "inline: column 'a': allowed_values: Input should be a valid list"
    )


# --- table rules and the contract -------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"row_count": {"min": 5, "max": 1}}, "table.row_count: min 5 is greater than max 1"),
        ({"row_count": {"min": -1}},
         "table.row_count: min: Input should be greater than or equal to 0"),
        ({"row_count": {"mn": 1}}, "table.row_count: unknown key 'mn' (known keys: min, max)"),
        ({"freshness": {"column": "t", "max_age": 5}},
         "table.freshness: max_age: 5 is not a duration; write e.g. '36h', '2d' or 'P1D'"),
        ({"freshness": {"column": "t", "max_age": "0s"}},
         "table.freshness: max_age: must be longer than zero"),
        ({"freshness": {"column": "t", "max_age": timedelta(seconds=-1)}},
         "table.freshness: max_age: must be longer than zero"),
        ({"freshness": {"column": "t", "max_age": "1d", "assume_timezone": "Mars/Base"}},
         "table.freshness: assume_timezone: 'Mars/Base' is not a known time zone (e.g. 'UTC')"),
        ({"freshness": {"column": "t", "max_age": "1d", "assume_timezone": "../etc"}},
         "table.freshness: assume_timezone: '../etc' is not a known time zone (e.g. 'UTC')"),
        ({"freshness": {"max_age": "1d"}}, "table.freshness: column: Field required"),
        ({"freshness": {"column": "t", "max_age": "1d", "zone": "UTC"}},
         "table.freshness: unknown key 'zone' (known keys: column, max_age, assume_timezone)"),
        ({"rowcount": {}}, "table: unknown rule 'rowcount' (known rules: row_count, freshness)"),
        ({"row_count": 5}, "table.row_count: Input should be a valid dictionary or instance "
                           "of RowCountRule"),
    ],
)  # fmt: skip
def test_each_table_refusal_whole(table: dict[str, Any], message: str) -> None:
    assert refusal({}, table=table).message == f"inline: {message}"


def test_top_level_refusals_whole_and_counted() -> None:
    error = refusal([1], version=0, colour="red")

    assert error.message == (
        "inline: contract: version: Input should be greater than or equal to 1; "
        "inline: contract: columns: Input should be a valid dictionary; "
        "inline: contract: unknown key 'colour' (known keys: name, version, description, "
        "columns, table)"
    )
    assert error.details == {"file": "inline", "errors": 3}
    assert refusal({"": {}}).message == "inline: contract: columns: a column name is empty"
    assert refusal({}, name="").message.startswith("inline: contract: name: String should have")
    assert refusal({}, table=[]).message.startswith("inline: table: Input should be")


def test_a_contract_that_is_not_a_mapping_is_refused_naming_its_type() -> None:
    with pytest.raises(ContractError) as info:
        parse_contract(["a"], "c.yaml")  # type: ignore[arg-type]

    assert (
        info.value.message == "c.yaml: a contract must be a mapping with name and columns, not list"
    )
    assert info.value.details == {"file": "c.yaml"}


def test_shorthand_columns_and_what_a_contract_gives_back() -> None:
    contract = parse_contract(
        {
            "name": "t",
            "columns": {"z": {"pii": True}, "a": "integer", "b": None, "c": {"pii": True}},
        },
        "i",
    )

    assert contract.columns["a"] == ColumnSpec(type="integer")
    assert contract.columns["b"] == ColumnSpec()
    assert contract.pii_columns == ["z", "c"]
    assert (contract.version, contract.description, contract.table.row_count) == (1, None, None)


def test_the_content_hash_is_stable_and_reads_unicode_as_written() -> None:
    # snapshots record this hash: a change of its recipe breaks every stored comparison
    contract = parse_contract(
        {
            "name": "café",
            "columns": {"b": {"type": "integer", "min": 0, "pii": True}, "a": None},
            "table": {"freshness": {"column": "a", "max_age": "36h"}},
        },
        "x",
    )

    assert contract.content_hash() == (
        "sha256:3d15a955d67679dd6538912180922f35a9cf806590498dc832c2b7b5d3eddf8c"
    )
    assert contract.to_dict() == {
        "name": "café",
        "version": 1,
        "columns": {
            "b": {"type": "integer", "nullable": True, "min": 0, "unique": False, "pii": True},
            "a": {"nullable": True, "unique": False, "pii": False},
        },
        "table": {"freshness": {"column": "a", "max_age": "36h"}},
    }
    assert contract.to_yaml() == (
        "name: café\nversion: 1\ncolumns:\n  b:\n    type: integer\n    min: 0\n    pii: true\n"
        "  a: {}\ntable:\n  freshness:\n    column: a\n    max_age: 36h\n"
    )


def test_a_contract_of_defaults_reads_back_as_three_lines() -> None:
    assert Contract(name="t").to_yaml() == "name: t\nversion: 1\ncolumns: {}\n"


def test_long_descriptions_stay_on_one_yaml_line_up_to_100_characters() -> None:
    words = " ".join(["word"] * 18)  # 89 characters: wider than YAML's default of 80
    contract = Contract(name="t", description=words)

    assert f"description: {words}\n" in contract.to_yaml()


def test_freshness_rule_values() -> None:
    rule = FreshnessRule(column="t", max_age=timedelta(hours=2), assume_timezone="Asia/Tokyo")

    assert rule.max_age == timedelta(hours=2)
    assert rule.model_dump(mode="json")["max_age"] == "2h"
    assert rule.model_dump()["max_age"] == timedelta(hours=2)  # only JSON spells it out
    assert RowCountRule(min=3, max=3).max == 3


@pytest.mark.parametrize("name", ["UTC", "utc", "Z", "z", "Etc/UTC", "etc/utc"])
def test_utc_needs_no_time_zone_database(name: str) -> None:
    assert zone_of(name) is UTC


def test_other_zones_come_from_the_database() -> None:
    assert zone_of("Asia/Tokyo") == ZoneInfo("Asia/Tokyo")


# --- loading files ---------------------------------------------------------------------------


def test_file_refusals_whole(tmp_path: Path) -> None:
    cases = {
        write(tmp_path, "name: t\n", "c.toml"): "{}: a contract is a .yaml, .yml or .json file",
        tmp_path / "gone.yaml": "{}: contract file not found",
        write(tmp_path, " \n\t\n", "blank.yaml"): "{}: the contract file is empty",
    }
    for path, message in cases.items():
        error = load_refusal(path)
        assert error.message == message.format(path)
        assert error.details == {"file": str(path)}


def test_unreadable_files_are_contract_errors(tmp_path: Path) -> None:
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    latin = write(tmp_path, b"name: caf\xe9\n", "latin.yaml")

    assert load_refusal(folder).message.startswith(f"{folder}: cannot read the contract: ")
    assert load_refusal(folder).details == {"file": str(folder)}
    assert load_refusal(latin).details == {"file": str(latin)}
    assert load_refusal(latin).message.startswith(f"{latin}: cannot read the contract: ")
    assert "utf-8" in load_refusal(latin).message


def test_suffixes_are_read_whatever_their_case(tmp_path: Path) -> None:
    for name in ("c.YAML", "c.yml", "c.Json"):
        assert load_contract(write(tmp_path, '{"name": "t"}', name)).name == "t"


def test_errors_point_at_the_line_of_the_nearest_key_they_concern(tmp_path: Path) -> None:
    text = (
        "name: t\ncolumns:\n  a:\n    type: integer\n    min: x\n"
        "table:\n  freshness:\n    max_age: 1d\n"
    )

    error = load_refusal(write(tmp_path, text))

    path = tmp_path / "c.yaml"
    assert error.message == (
        f"{path}:3: column 'a': min 'x' must be a number for a integer column; "
        f"{path}:7: table.freshness: column: Field required"
    )
    assert error.details == {"file": str(path), "errors": 2}


def test_a_top_level_error_points_at_its_own_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\nversion: 0\n")

    error = load_refusal(path)

    assert (
        error.message == f"{path}:2: contract: version: Input should be greater than or equal to 1"
    )


def test_invalid_yaml_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\ncolumns:\n  a: [1\n")

    error = load_refusal(path)

    assert error.message == f"{path}:4: not valid YAML: expected ',' or ']', but got '<stream end>'"
    assert error.details == {"file": str(path), "line": "4"}


def test_a_control_character_is_refused_on_one_line_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\x07\n")

    error = load_refusal(path)

    assert error.message == (
        f"{path}: not valid YAML: unacceptable character #x0007: special characters are not allowed"
    )
    assert error.details == {"file": str(path)}


def test_a_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\ncolumns:\n  a: {min: 0}\n  b: {}\n  a: {max: 5}\n")

    error = load_refusal(path)

    assert error.message == f"{path}:5: 'columns.a' is given twice (first on line 3)"
    assert error.details == {"file": str(path), "line": 5}


def test_a_repeated_key_under_different_parents_is_not_a_duplicate(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\ncolumns:\n  a: {min: 0}\n  b: {min: 1}\n")

    assert load_contract(path).columns["b"].min == 1


def test_aliases_of_mappings_are_refused_naming_the_line_but_scalar_aliases_are_read(
    tmp_path: Path,
) -> None:
    mapping = write(tmp_path, "name: t\ncolumns:\n  a: &rules {min: 0}\n  b: *rules\n", "m.yaml")
    listed = write(
        tmp_path,
        "name: t\ncolumns:\n  a: {allowed_values: &v [1, 2]}\n  b: {allowed_values: *v}\n",
        "l.yaml",
    )
    scalar = write(tmp_path, "name: t\ncolumns:\n  a: {min: &low 3}\n  b: {min: *low}\n", "s.yaml")

    error = load_refusal(mapping)
    assert error.message == (
        f"{mapping}:3: YAML aliases (*name) of mappings or lists are not allowed in a "
        "contract; write the rules out"
    )
    assert error.details == {"file": str(mapping)}
    assert load_refusal(listed).message.startswith(f"{listed}:3: YAML aliases")
    assert load_contract(scalar).columns["b"].min == 3

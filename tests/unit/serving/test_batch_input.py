"""A batch run's input: opened by what it names, cut at the same rows every time, and each
row checked for exactly the reasons an online request is refused."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.errors import InputError
from modelward.serving.batch_input import check_rows, open_input
from modelward.serving.endpoints import FieldType
from modelward.serving.schema import RequestSchema

FIELDS: dict[str, FieldType] = {"n": "int", "x": "float", "flag": "bool", "email": "string"}
SCHEMA = RequestSchema("m", FIELDS, max_rows=1)


def check(table: pa.Table, first_row: int = 0, pii: frozenset[str] = frozenset()):
    return check_rows(table, FIELDS, SCHEMA, first_row, pii)


def test_rows_that_pass_are_typed_as_the_schema_says_with_their_row_numbers() -> None:
    table = pa.table(
        {
            "n": pa.array([1, 2], pa.int32()),
            "x": pa.array([3, 4], pa.int64()),  # integers are numbers
            "flag": [True, False],
            "email": ["a", "b"],
            "note": ["kept", "too"],  # not a request field: carried along
        }
    )
    checked = check(table, first_row=100)
    assert checked.rejected_rows == 0 and checked.rejects.num_rows == 0
    good = checked.good
    assert good.column_names == ["row_number", "n", "x", "flag", "email", "note"]
    assert good.schema.field("n").type == pa.int64() and good.schema.field("x").type == pa.float64()
    assert good.column("row_number").to_pylist() == [100, 101]


def test_csv_text_is_converted_and_a_bad_cell_refuses_only_its_row() -> None:
    table = pa.table(
        {
            "n": [" 7", "8", "nine", "10"],
            "x": ["0.5", "inf", "1e3", "2"],
            "flag": ["TRUE", "0", "yes", "false"],
            "email": ["a", "b", "c", ""],  # an empty string is a string
        }
    )
    checked = check(table, first_row=40)
    assert checked.good.column("row_number").to_pylist() == [40, 43]
    assert checked.good.column("n").to_pylist() == [7, 10]
    assert checked.good.column("flag").to_pylist() == [True, False]
    found = {
        (r["row_number"], r["field"], r["rule"], r["value"]) for r in checked.rejects.to_pylist()
    }
    assert found == {
        (41, "x", "must be a finite number", "inf"),
        (42, "n", "must be a 64-bit integer", "nine"),
        (42, "flag", "must be true or false", "yes"),
    }
    assert checked.rejected_rows == 2  # two rows, three broken rules


def test_a_null_cell_is_a_missing_field() -> None:
    table = pa.table(
        {"n": pa.array([1, None]), "x": [0.5, 0.5], "flag": [True, True], "email": ["a", "b"]}
    )
    [reject] = check(table).rejects.to_pylist()
    assert reject == {"row_number": 1, "field": "n", "rule": "is required", "value": None}


def test_a_rejects_file_never_holds_a_pii_value_and_cuts_long_values() -> None:
    table = pa.table(
        {
            "n": ["x" * 500, "1"],
            "x": [0.5, 0.5],
            "flag": [True, True],
            "email": pa.array([None, 5], pa.int64()),  # not a string
        }
    )
    rejects = check(table, pii=frozenset({"email"})).rejects.to_pylist()
    by_field = {(r["row_number"], r["field"]): r["value"] for r in rejects}
    assert by_field[(0, "n")] == "x" * 200
    assert by_field[(1, "email")] == "[redacted]"


def test_an_integer_past_64_bits_is_refused_not_wrapped() -> None:
    table = pa.table(
        {
            "n": pa.array([2**64 - 1, 3], pa.uint64()),
            "x": [0.5, 0.5],
            "flag": [True, True],
            "email": ["a", "b"],
        }
    )
    checked = check(table)
    assert checked.good.column("n").to_pylist() == [3]
    assert [(r["row_number"], r["field"]) for r in checked.rejects.to_pylist()] == [(0, "n")]


def _parquet(path: Path, rows: int, row_group_size: int) -> Path:
    pq.write_table(pa.table({"n": list(range(rows))}), path, row_group_size=row_group_size)
    return path


def test_a_parquet_input_is_cut_at_the_same_rows_by_batches_and_by_read_part(
    tmp_path: Path,
) -> None:
    source = open_input(None, _parquet(tmp_path / "in.parquet", rows=25, row_group_size=7))
    assert (source.kind, source.num_rows, source.columns) == ("parquet", 25, ["n"])
    parts = [t.column("n").to_pylist() for t in source.batches(10, frozenset())]
    assert parts == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
    for index, expected in enumerate(parts):
        assert source.read_part(index, 10, frozenset()).column("n").to_pylist() == expected
    assert source.read_part(3, 10, frozenset()).num_rows == 0  # past the end: empty, typed


def test_a_csv_input_is_cut_exactly_and_cannot_be_read_from_its_middle(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("n,email\n" + "".join(f"{i},00{i}\n" for i in range(7)))
    source = open_input(None, path)
    assert (source.kind, source.num_rows, source.columns) == ("csv", None, ["n", "email"])
    parts = list(source.batches(3, frozenset({"email"})))
    assert [p.num_rows for p in parts] == [3, 3, 1]
    assert parts[0].column("email").to_pylist() == ["000", "001", "002"]  # text kept as text
    with pytest.raises(InputError, match="cannot be read from a row in its middle") as refused:
        source.read_part(1, 3, frozenset())
    assert refused.value.details["field"] == "input"


def test_a_query_is_addressed_by_its_text_and_its_result(tmp_path: Path) -> None:
    data = _parquet(tmp_path / "d.parquet", rows=12, row_group_size=12)
    query = f"sql:SELECT n FROM '{data}' ORDER BY n"
    first = open_input(None, query)
    assert (first.kind, first.num_rows, first.columns) == ("sql", 12, ["n"])
    assert open_input(None, query + " ;").content_hash == first.content_hash  # trailing ;
    assert [t.num_rows for t in first.batches(5, frozenset())] == [5, 5, 2]
    assert first.read_part(2, 5, frozenset()).column("n").to_pylist() == [10, 11]
    _parquet(data, rows=13, row_group_size=13)  # the same text, other rows
    assert open_input(None, query).content_hash != first.content_hash


@pytest.mark.parametrize(
    ("source", "message", "field"),
    [
        ("sql:  ;", "the SQL after 'sql:' is empty", "sql"),
        ("sql:SELECT * FROM no_such_table", "input query:", "sql"),
        ("churn@latest", "not a snapshot reference NAME@VERSION", "input"),
    ],
)
def test_an_input_that_cannot_be_opened_names_the_option(
    source: str, message: str, field: str
) -> None:
    with pytest.raises(InputError, match=message) as refused:
        open_input(None, source)
    assert refused.value.details["field"] == field


def test_a_file_of_another_kind_or_a_broken_parquet_file_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "rows.json"
    text.write_text("[]")
    with pytest.raises(InputError, match=r"expected a \.parquet or \.csv file"):
        open_input(None, text)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="not a Parquet file") as refused:
        open_input(None, broken)
    assert refused.value.details["file"] == str(broken)


def test_a_file_opened_without_its_hash_is_hashed_on_demand(tmp_path: Path) -> None:
    path = _parquet(tmp_path / "in.parquet", rows=3, row_group_size=3)
    late = open_input(None, path, content_hash=False)
    assert late.content_hash == ""
    assert late.hashed().content_hash == open_input(None, path).content_hash

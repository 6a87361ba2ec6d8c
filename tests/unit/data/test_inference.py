"""Inferring a starting contract: faithful to the data it was read from."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelward.data.contracts import load_contract
from modelward.data.inference import infer_contract
from modelward.data.validation import validate
from modelward.errors import InputError

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)


def parquet(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def test_infers_types_nulls_ranges_sets_and_keys(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "customers.parquet",
        pa.table({
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "plan": ["pro", "free", "pro", None],
            "score": [0.5, 1.5, 0.5, -2.0],
            "price": pa.array([Decimal("1.10"), Decimal("2.25"), None, Decimal("0.99")],
                              pa.decimal128(6, 2)),
            "seen": pa.array([datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3, 4)],
                             pa.timestamp("us", tz="UTC")),
            "local": pa.array([datetime(2024, 1, 1, 8)] * 4, pa.timestamp("ns")),
            "ok": [True, False, True, True],
        }),
    )  # fmt: skip

    contract = infer_contract(path)

    cols = contract.columns
    assert contract.name == "customers"
    assert contract.table.row_count is not None
    assert contract.table.row_count.min == 1
    assert (cols["id"].type, cols["id"].nullable, cols["id"].unique) == ("integer", False, True)
    assert (cols["id"].min, cols["id"].max) == (1, 4)
    assert cols["plan"].type == "string"
    assert cols["plan"].nullable
    assert cols["plan"].allowed_values == ["free", "pro"]
    assert (cols["score"].type, cols["score"].min, cols["score"].max) == ("float", -2.0, 1.5)
    assert not cols["score"].unique  # floats are never inferred unique
    assert (cols["price"].type, cols["price"].min, cols["price"].max) == ("decimal", "0.99", "2.25")
    assert cols["seen"].type == "timestamp"
    assert cols["seen"].min == "2024-01-01T00:00:00+00:00"
    assert not cols["seen"].unique  # timestamps are not keys, however unique today
    assert cols["local"].type == "timestamp_ntz"
    assert cols["ok"].type == "boolean"
    assert not cols["ok"].unique
    assert validate(path, contract, as_of=AS_OF).passed


def test_inferred_contract_is_written_as_readable_yaml(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("id,name,team\n1,ana,red\n2,bo,blue\n3,cy,red\n")

    contract = infer_contract(csv, name="people")
    out = tmp_path / "people.yaml"
    out.write_text(contract.to_yaml())

    assert load_contract(out) == contract
    assert "allowed_values:\n    - blue\n    - red" in out.read_text()
    assert validate(csv, load_contract(out), as_of=AS_OF).passed


def test_empty_data_infers_no_row_count_floor(tmp_path: Path) -> None:
    csv = tmp_path / "header.csv"
    csv.write_text("a,b\n")

    contract = infer_contract(csv)

    assert contract.table.row_count is None
    assert set(contract.columns) == {"a", "b"}
    assert validate(csv, contract, as_of=AS_OF).passed


def test_unreadable_inputs_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "e.parquet").write_bytes(b"")
    (tmp_path / "c.parquet").write_bytes(b"garbage" * 20)

    with pytest.raises(InputError, match="the file is empty"):
        infer_contract(tmp_path / "e.parquet")
    with pytest.raises(InputError, match=r"c\.parquet: cannot read the data"):
        infer_contract(tmp_path / "c.parquet")


def test_unsupported_types_are_described_not_typed(tmp_path: Path) -> None:
    path = parquet(tmp_path / "l.parquet", pa.table({"tags": [["a"], ["b", "c"]]}))

    spec = infer_contract(path).columns["tags"]

    assert spec.type is None
    assert spec.description is not None
    assert "VARCHAR[]" in spec.description


# --- a contract inferred from data validates that data -----------------------------------

KINDS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "int": (pa.int32(), st.integers(-(2**31), 2**31 - 1)),
    "big": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "float": (pa.float64(), st.floats(allow_nan=False, allow_infinity=False)),
    "real": (pa.float32(), st.floats(width=32, allow_nan=False, allow_infinity=False)),
    "dec": (pa.decimal128(12, 3), st.decimals(min_value=-10**8, max_value=10**8, places=3,
                                              allow_nan=False, allow_infinity=False)),
    "text": (pa.string(), st.text(max_size=6)),
    "cat": (pa.string(), st.sampled_from(["x", "y", "z"])),
    "bool": (pa.bool_(), st.booleans()),
    "day": (pa.date32(), st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))),
    "tz": (pa.timestamp("us", tz="UTC"),
           st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                        timezones=st.just(UTC))),
    "ns": (pa.timestamp("ns"), st.integers(-(2**62), 2**62)),
    "clock": (pa.time64("us"), st.times()),
    "bytes": (pa.binary(), st.binary(max_size=4)),
}  # fmt: skip


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 15))
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=5, unique=True))
    columns = {}
    for kind in kinds:
        dtype, values = KINDS[kind]
        nullable = draw(st.booleans())
        cells = draw(st.lists(st.none() | values if nullable else values, min_size=n, max_size=n))
        if kind == "ns":  # nanoseconds, which a Python datetime cannot hold
            columns[kind] = pa.array(cells, pa.int64()).cast(dtype)
        else:
            columns[kind] = pa.array(cells, dtype)
    return pa.table(columns)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_inferred_contract_validates_its_own_data(
    tmp_path_factory: pytest.TempPathFactory, table: pa.Table
) -> None:
    path = parquet(tmp_path_factory.mktemp("infer") / "t.parquet", table)

    contract = infer_contract(path)
    report = validate(path, contract, as_of=AS_OF)

    assert report.failures == []
    assert report.row_count == table.num_rows


def test_a_change_in_the_data_is_caught_by_the_inferred_contract(tmp_path: Path) -> None:
    old = parquet(tmp_path / "old.parquet", pa.table({"k": [1, 2, 3], "c": ["a", "b", "a"]}))
    new = parquet(tmp_path / "new.parquet", pa.table({"k": [1, 1, 9], "c": ["a", "b", "q"]}))

    report = validate(new, infer_contract(old), as_of=AS_OF)

    assert {r.rule for r in report.failures} == {
        "columns.k.max", "columns.k.unique", "columns.c.allowed_values"
    }  # fmt: skip

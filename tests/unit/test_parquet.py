"""The Parquet files modelward keeps: text keeps its dictionary, numbers and ids are plain."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modelward import parquet


def _encodings(path: Path) -> dict[str, set[str]]:
    group = pq.ParquetFile(path).metadata.row_group(0)
    return {
        group.column(i).path_in_schema: set(group.column(i).encodings)
        for i in range(group.num_columns)
    }


def test_text_columns_nested_too_get_a_dictionary_and_numbers_and_ids_do_not(
    tmp_path: Path,
) -> None:
    n = 1_000
    inputs = pa.StructArray.from_arrays(
        [pa.array([float(i) for i in range(n)]), pa.array(["basic", "pro"] * (n // 2))],
        names=["spend", "plan"],
    )
    table = pa.table(
        {
            "request_id": pa.array([f"r{i}" for i in range(n)]),
            "model": pa.array(["churn"] * n),
            "inputs": inputs,
            "prediction": pa.array([i / n for i in range(n)]),
        }
    )
    path = tmp_path / "part.parquet"
    parquet.write_table(table, path, unique=("request_id",))

    encodings = _encodings(path)
    dictionary = {c for c, e in encodings.items() if "RLE_DICTIONARY" in e}
    assert dictionary == {"model", "inputs.plan"}
    # what is read back is the table written, text as plain strings
    assert pq.read_table(path).equals(table)


def test_a_column_already_dictionary_encoded_stays_so() -> None:
    schema = pa.schema([("plan", pa.dictionary(pa.int32(), pa.string())), ("x", pa.float64())])
    assert parquet.dictionary_columns(schema) == ["plan"]

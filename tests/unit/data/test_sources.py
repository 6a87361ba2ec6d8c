"""Recognising a source: a Parquet or CSV file that exists, or SQL text; anything else is
refused naming the file and what would be accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.data.sources import resolve_source
from modelward.errors import InputError


@pytest.mark.parametrize(
    "text",
    ["SELECT 1", "  with t as (select 1) select * from t", "from 'x.parquet'", "(values (1))"],
)
def test_sql_text_is_a_sql_source_without_its_trailing_semicolon(text: str) -> None:
    source = resolve_source(text + ";")
    assert source.kind == "sql"
    assert source.text == text.strip()
    assert source.path is None
    assert source.from_clause() == f"({text.strip()})"


def test_a_sql_label_is_on_one_line() -> None:
    assert resolve_source("select a,\n   b\nfrom t").label == "sql:select a, b from t"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("d.parquet", "parquet"), ("d.PQ", "parquet"), ("d.csv", "csv"), ("d.tsv", "csv")],
)
def test_an_existing_file_is_recognised_by_its_suffix_and_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, kind: str
) -> None:
    (tmp_path / name).write_text("a\n1\n")
    monkeypatch.chdir(tmp_path)
    source = resolve_source(name)
    assert source.kind == kind
    assert source.path == (tmp_path / name).resolve()
    assert source.label == str((tmp_path / name).resolve())


def test_a_tsv_is_read_with_a_tab_and_a_quote_in_the_path_cannot_break_the_sql(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "it's"
    folder.mkdir()
    (folder / "d.tsv").write_text("a\tb\n1\t2\n")
    clause = resolve_source(folder / "d.tsv").from_clause()
    assert "it''s" in clause and "delim='\t'" in clause

    import duckdb

    assert duckdb.sql(f"select a + b from {clause}").fetchall() == [(3,)]


def test_an_unsupported_suffix_names_the_file_and_the_accepted_sources(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unsupported source; give a \.parquet or \.csv") as info:
        resolve_source(tmp_path / "d.json")
    assert info.value.details["file"] == str(tmp_path / "d.json")


def test_a_missing_file_and_a_folder_are_refused_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found") as info:
        resolve_source(tmp_path / "gone.parquet")
    assert info.value.details["file"] == str(tmp_path / "gone.parquet")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match="not a file"):
        resolve_source(tmp_path / "dir.csv")

"""``write_text_replacing``: a report is replaced whole, and a failure names the file and
leaves nothing half-written beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.errors import StorageError
from modelward.textfiles import write_text_replacing


def test_a_file_is_replaced_whole_and_no_temporary_file_stays(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text("old", encoding="utf-8")
    assert write_text_replacing(page, "néw", what="the report") == page
    assert page.read_text(encoding="utf-8") == "néw"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_the_folder_is_made_when_asked(tmp_path: Path) -> None:
    page = tmp_path / "a" / "b" / "page.html"
    write_text_replacing(page, "x", what="the page", make_parent=True)
    assert page.read_text(encoding="utf-8") == "x"


@pytest.mark.parametrize("make_parent", [False, True])
def test_a_file_where_the_folder_should_be_is_a_storage_error_naming_the_file(
    tmp_path: Path, make_parent: bool
) -> None:
    (tmp_path / "reports").write_text("not a folder", encoding="utf-8")
    page = tmp_path / "reports" / "shadow.html"
    with pytest.raises(StorageError) as caught:
        write_text_replacing(page, "x", what="the shadow report", make_parent=make_parent)
    assert str(caught.value).startswith(f"{page}: cannot write the shadow report: ")
    assert (tmp_path / "reports").read_text(encoding="utf-8") == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]

"""The CLI's definition files: each unreadable or broken file refused on one line that names
the file, and the line where the parser knows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.cli.files import read_definition, read_json
from modelward.errors import InputError


def test_yaml_and_json_read_by_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: churn\nsteps: [5, 50]\n")
    (tmp_path / "a.json").write_text('{"name": "churn", "steps": [5, 50]}')
    expected = {"name": "churn", "steps": [5, 50]}
    assert read_definition(tmp_path / "a.yaml") == expected
    assert read_definition(tmp_path / "a.json") == expected


def test_a_yaml_error_names_the_file_and_line_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("name: churn\nmodel: [unclosed\nrequest: {}\n")
    with pytest.raises(InputError) as caught:
        read_definition(path)
    message = caught.value.message
    assert message.startswith(f"{path}:3: not valid YAML: ")
    assert "\n" not in message and caught.value.details["file"] == str(path)


def test_a_control_character_is_refused_on_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("name: churn\x07\n")
    with pytest.raises(InputError) as caught:
        read_definition(path)
    message = caught.value.message
    assert message.startswith(f"{path}: not valid YAML: ")
    assert "\n" not in message and "<unicode string>" not in message


@pytest.mark.parametrize(
    ("content", "rule"),
    [(b'{"name": ', "not valid JSON"), (b"\xff\xfe{}", r"not UTF-8 text \(byte 0 ")],
)
def test_broken_json_and_bytes_that_are_not_text(tmp_path: Path, content: bytes, rule: str) -> None:
    path = tmp_path / "spec.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=rule) as caught:
        read_definition(path)
    assert caught.value.message.startswith(f"{path}: ")


def test_a_missing_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(InputError, match="cannot be read: No such file or directory"):
        read_definition(path)


def test_a_json_document_is_read_as_json_whatever_its_suffix(tmp_path: Path) -> None:
    path = tmp_path / "golden.rows"
    path.write_text('[{"customer_id": 1}]')
    assert read_json(path) == [{"customer_id": 1}]
    path.write_text("customer_id: 1")  # YAML, not JSON: refused
    with pytest.raises(InputError, match=r"golden\.rows: not valid JSON: "):
        read_json(path)

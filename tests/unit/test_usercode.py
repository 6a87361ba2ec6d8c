"""User modules (a project's pipelines.py, its feature definitions): loaded by path, reused
until edited, and a module that fails to load named by its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.errors import InputError
from modelward.usercode import load_module_file


def test_a_user_module_is_reloaded_or_reused_as_asked(tmp_path: Path) -> None:
    path = tmp_path / "defs.py"
    path.write_text("VALUE = 1\n")
    first = load_module_file(path, prefix="mw_test_", reuse=True)
    assert load_module_file(path, prefix="mw_test_", reuse=True) is first  # unchanged: reused
    assert load_module_file(path, prefix="mw_test_", reuse=False) is not first
    # an edit in the same second that keeps the size (what a .pyc cannot tell apart)
    path.write_text("VALUE = 2\n")
    edited = load_module_file(path, prefix="mw_test_", reuse=True)
    assert edited is not first and edited.VALUE == 2
    assert load_module_file(path, prefix="mw_test_", reuse=True) is edited


def test_a_user_module_that_fails_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('nope')\n")
    with pytest.raises(InputError, match=r"broken\.py: loading the definitions failed"):
        load_module_file(path, prefix="mw_test_", what="the definitions")

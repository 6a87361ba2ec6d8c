"""Sessions: the store opened only when first used, closed with the session; the notebook
session reused for one location and replaced when the location changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.config import init_workspace
from modelward.session import (
    Session,
    current_session,
    open_session,
    reset_current_session,
    resolve_session,
)


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("MODELWARD_DATABASE_URL", "MODELWARD_WORKSPACE"):
        monkeypatch.delenv(key, raising=False)
    reset_current_session()
    yield
    reset_current_session()


def test_the_store_opens_on_first_use_and_closes_with_the_session(
    tmp_path: Path, clean: None
) -> None:
    root = init_workspace(tmp_path / "ws")
    with open_session(root, environ={}) as session:
        assert not (root / ".modelward" / "metadata.db").exists()  # nothing opened yet
        store = session.store
        assert session.store is store
        assert (root / ".modelward" / "metadata.db").exists()
    assert "store" not in session.__dict__
    assert repr(session) == f"Session(root={str(root)!r})"


def test_the_notebook_session_is_reused_for_one_location_and_replaced_for_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None
) -> None:
    first, second = init_workspace(tmp_path / "a"), init_workspace(tmp_path / "b")
    monkeypatch.setenv("MODELWARD_WORKSPACE", str(first))
    session = current_session()
    assert current_session() is session and session.workspace.root == first
    monkeypatch.setenv("MODELWARD_WORKSPACE", str(second))
    other = current_session()
    assert other is not session and other.workspace.root == second
    monkeypatch.chdir(second)
    assert current_session() is not other  # the cwd is part of the location too


def test_a_given_session_is_used_as_is_and_none_means_the_notebook_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: None
) -> None:
    root = init_workspace(tmp_path / "ws")
    given = Session(open_session(root, environ={}).workspace)
    assert resolve_session(given) is given
    monkeypatch.setenv("MODELWARD_WORKSPACE", str(root))
    assert resolve_session(None) is current_session()

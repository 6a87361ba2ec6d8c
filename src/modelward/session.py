"""A session: one opened workspace and its metadata store, handed to every context API.

Context functions take a :class:`Session` explicitly. The notebook facade (``mw.data.
snapshot(...)``) uses :func:`current_session`, which opens the workspace found from
``$MODELWARD_WORKSPACE`` or the current folder once and reuses it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from modelward.config import Workspace
from modelward.store import Store, open_store

__all__ = [
    "Session",
    "current_session",
    "open_session",
    "reset_current_session",
    "resolve_session",
]


class Session:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    @cached_property
    def store(self) -> Store:
        """Opened (and migrated) on first use, so commands that need no database stay fast."""
        return open_store(self.workspace)

    @property
    def actor(self) -> str:
        return self.workspace.actor

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
            del self.__dict__["store"]

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Session(root={str(self.workspace.root)!r})"


def open_session(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Session:
    return Session(Workspace.open(path, environ=environ))


_lock = threading.Lock()
_current: tuple[tuple[str, str], Session] | None = None


def current_session() -> Session:
    """The session for ``$MODELWARD_WORKSPACE`` or the cwd, opened once per location."""
    global _current
    key = (os.environ.get("MODELWARD_WORKSPACE", ""), str(Path.cwd()))
    with _lock:
        if _current is None or _current[0] != key:
            if _current is not None:
                _current[1].close()
            _current = (key, open_session())
        return _current[1]


def resolve_session(session: Session | None) -> Session:
    """``session`` itself, or (the notebook case, none given) :func:`current_session`."""
    return session if session is not None else current_session()


def reset_current_session() -> None:
    global _current
    with _lock:
        if _current is not None:
            _current[1].close()
        _current = None

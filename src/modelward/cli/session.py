"""CLI-wide state (``--debug``, ``--workspace``) and how commands open the workspace."""

from __future__ import annotations

from modelward.session import Session, open_session

__all__ = ["session_from_cli", "state"]


class _State:
    debug: bool = False
    json_errors: bool = False
    workspace: str | None = None


state = _State()


def session_from_cli() -> Session:
    """The workspace named by ``--workspace``/``$MODELWARD_WORKSPACE``, else the cwd's."""
    return open_session(state.workspace)

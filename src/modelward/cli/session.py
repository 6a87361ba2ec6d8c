"""CLI-wide state (``--debug``, ``--workspace``) and how commands open the workspace."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["session_from_cli", "state"]


class _State:
    debug: bool = False
    json_errors: bool = False
    workspace: str | None = None

    def reset(self) -> None:
        """Forget one invocation's options, so the next (in the same process) starts clean."""
        self.debug = False
        self.json_errors = False
        self.workspace = None


state = _State()


def session_from_cli() -> Session:
    """The workspace named by ``--workspace``/``$MODELWARD_WORKSPACE``, else the cwd's."""
    from modelward.session import open_session  # here, so `modelward --help` stays fast

    return open_session(state.workspace)

"""``modelward run -- COMMAND...``: run training code against the workspace's MLflow store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register", "run_cmd"]

_PYTHON = re.compile(r"python(\d+(\.\d+)?)?")


def launch_command(command: list[str]) -> list[str]:
    """``python SCRIPT``/``python -m MOD`` go through the launcher; anything else runs as is."""
    if len(command) >= 2 and _PYTHON.fullmatch(Path(command[0]).name):
        python = sys.executable if command[0] in ("python", "python3") else command[0]
        first = command[1]
        if first == "-m" or not first.startswith("-"):
            return [python, "-m", "modelward.registry.launch", *command[1:]]
    return command


def run_cmd(
    command: Annotated[list[str], typer.Argument(help="The command, after `--`.")],
) -> None:
    """Run COMMAND with MLflow pointed at this workspace (from any folder).

    `python train.py` and `python -m pkg` run unchanged through modelward's launcher, which
    lets MLflow save tree models (scikit-learn trees, XGBoost) in the safe skops format; see
    docs/registry.md.
    """
    from modelward.cli.session import session_from_cli
    from modelward.registry import ensure_tracking_store, tracking_environ

    with session_from_cli() as session:
        workspace = session.workspace
        ensure_tracking_store(workspace)
        env = {**os.environ, **tracking_environ(workspace), "MODELWARD_RUN": "1"}
    try:
        done = subprocess.run(launch_command(command), env=env, check=False)
    except FileNotFoundError:
        from modelward.errors import InputError

        raise InputError(f"command: {command[0]!r} not found", field="command") from None
    raise typer.Exit(done.returncode)


def register(app: typer.Typer) -> None:
    app.command(
        "run",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(run_cmd)

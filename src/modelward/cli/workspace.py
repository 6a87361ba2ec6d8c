"""``modelward init``: a new workspace (its config, metadata store, MLflow store, admin)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelward.cli.output import console, say

__all__ = ["environ_for", "register"]


def init_cmd(
    path: Annotated[Path, typer.Argument(help="Folder for the workspace.")] = Path("."),
    project: Annotated[str | None, typer.Option("--project", help="Project name.")] = None,
) -> None:
    """Create modelward.toml and .modelward/ (keeps what already exists)."""
    from modelward.config import CONFIG_FILE, HOME_DIR, init_workspace
    from modelward.registry import ensure_tracking_store
    from modelward.security import LOCAL_TOKEN_FILE, bootstrap_admin
    from modelward.session import open_session

    root = init_workspace(path, project=project)
    with open_session(root, environ=environ_for(root)) as session:
        store = session.store  # creates and migrates the metadata database
        where = store.display_url
        ensure_tracking_store(session.workspace)  # the embedded MLflow store, migrated once
        token_file = session.workspace.home / LOCAL_TOKEN_FILE
        # a second init keeps the admin's token; rotate it with `modelward tokens`
        admin = None if token_file.exists() else bootstrap_admin(session)[0]
    say("workspace ready at [bold]{}[/bold]", root)
    lines = [
        f"  config:    {root / CONFIG_FILE} (commit it; never put secrets in it)",
        f"  metadata:  {where}",
        f"  mlflow:    {root / 'mlflow.db'} (plain mlflow code run here lands in it)",
        f"  secrets:   {root / HOME_DIR / 'secrets.toml'} (mode 0600, git-ignored)",
    ]
    if admin is not None:
        lines.append(
            f"  admin:     {admin.name}; API token saved to {token_file} (mode 0600, "
            "git-ignored, shown nowhere else); the API also accepts it as MODELWARD_TOKEN"
        )
    for line in lines:  # paths and names are data: never read as markup
        console.print(line, markup=False, soft_wrap=True)


def environ_for(root: Path) -> dict[str, str] | None:
    """The process environment, minus a workspace override pointing elsewhere."""
    import os

    env = dict(os.environ)
    env.pop("MODELWARD_WORKSPACE", None)
    return env


def register(app: typer.Typer) -> None:
    app.command("init")(init_cmd)

"""``modelward server``: the REST API (``/api/v1``) and the dashboard (``/ui``), one process.

Not to be confused with ``modelward serve`` (:mod:`modelward.cli.gateway`), the online
inference gateway.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_server_app_from_env", "register", "server_cmd"]


def create_server_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` workers: the REST API with the dashboard mounted,
    over the workspace of ``$MODELWARD_WORKSPACE``."""
    from modelward.api import create_app
    from modelward.session import open_session
    from modelward.web import mount_dashboard

    session = open_session()
    return mount_dashboard(create_app(session), session)


def server_cmd(
    host: Annotated[str | None, typer.Option("--host", help="Default: server.host.")] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Default: server.port.")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1)] = None,
) -> None:
    """Serve /api/v1 (OpenAPI docs at /docs) and the dashboard at /ui. Every route needs a
    token (the dashboard's sign-in exchanges one for a session cookie)."""
    import uvicorn

    from modelward.cli.output import console
    from modelward.cli.session import session_from_cli

    with session_from_cli() as session:
        settings = session.workspace.settings.server
        root = session.workspace.root
        _ = session.store  # migrate before workers start, and fail early if unreachable
    host = host or settings.host
    port = port or settings.port
    os.environ["MODELWARD_WORKSPACE"] = str(root)
    console.print(f"modelward API on http://{host}:{port}/api/v1 (docs: /docs)")
    console.print(f"dashboard on http://{host}:{port}/ui/")
    uvicorn.run(
        "modelward.cli.api_server:create_server_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        log_level="info",
        server_header=False,  # the security headers are the guard's; no product banner
    )


def register(app: typer.Typer) -> None:
    app.command("server")(server_cmd)

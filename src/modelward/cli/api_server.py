"""``modelward server``: the REST API server (``/api/v1``, FastAPI on uvicorn).

Not to be confused with ``modelward serve`` (:mod:`modelward.cli.gateway`), the online
inference gateway.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

__all__ = ["register", "server_cmd"]


def server_cmd(
    host: Annotated[str | None, typer.Option("--host", help="Default: server.host.")] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Default: server.port.")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1)] = None,
) -> None:
    """Serve /api/v1 (OpenAPI docs at /docs). Every route needs a token."""
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
    uvicorn.run(
        "modelward.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        log_level="info",
        server_header=False,  # the security headers are the guard's; no product banner
    )


def register(app: typer.Typer) -> None:
    app.command("server")(server_cmd)

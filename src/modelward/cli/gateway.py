"""``modelward serve``: the online inference gateway (predictions) on uvicorn.

Not to be confused with ``modelward server`` (:mod:`modelward.cli.api_server`), the REST
API server.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from modelward.cli.output import err_console
from modelward.cli.session import session_from_cli

__all__ = ["register", "serve_cmd"]


def serve_cmd(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: serving.host in modelward.toml).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default: serving.port).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-n", min=1, help="Worker processes (default: serving.workers)."),
    ] = None,
    endpoint: Annotated[
        list[str] | None,
        typer.Option("--endpoint", "-e", help="Serve only these endpoints (repeatable)."),
    ] = None,
) -> None:
    """Serve the workspace's endpoints: POST /v1/endpoints/{name}/predict, /metrics, /readyz.

    SIGTERM stops accepting connections, lets in-flight requests finish and flushes the
    prediction log before the process exits.
    """
    import uvicorn

    from modelward.serving import ENV_ENDPOINTS, ENV_HEADER_TIMEOUT, HeaderDeadlineProtocol

    with session_from_cli() as session:
        root = session.workspace.root
        settings = session.workspace.settings.serving
        session.store  # noqa: B018 - migrate once here, not in N racing workers
    if settings.grpc_port:
        from importlib.util import find_spec

        from modelward.errors import ConfigError

        if find_spec("grpc") is None:  # say so here, not as a traceback in every worker
            raise ConfigError(
                "serving.grpc_port is set but gRPC is not installed: "
                "pip install 'modelward[grpc]', or set serving.grpc_port = 0",
                field="serving.grpc_port",
            )
    n = workers or settings.workers
    os.environ["MODELWARD_WORKSPACE"] = str(root)
    os.environ[ENV_ENDPOINTS] = ",".join(endpoint or [])
    os.environ[ENV_HEADER_TIMEOUT] = repr(settings.header_timeout_s)
    if n > 1:
        # every worker writes its metrics to files here; /metrics on any worker sums them
        tmp = root / ".modelward" / "tmp"
        _remove_stale_metrics(tmp)
        metrics_dir = tmp / f"metrics-{os.getpid()}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    bind_host = host or settings.host
    bind_port = port or settings.port
    # the workers' gRPC port (serving.grpc_port) binds where --host says HTTP does
    os.environ["MODELWARD_SERVING__HOST"] = bind_host
    grpc = f", gRPC inference on {bind_host}:{settings.grpc_port}" if settings.grpc_port else ""
    err_console.print(
        f"serving {root.name} on http://{bind_host}:{bind_port} with {n} worker(s){grpc}; "
        "POST /v1/endpoints/<name>/predict, /v2/models/<name>/infer or /invocations"
    )
    uvicorn.run(
        "modelward.serving.app:app_from_environment",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=n,
        # httptools plus a deadline on request headers (slow-loris; see serving/wire.py)
        http=HeaderDeadlineProtocol,
        loop=loop,
        lifespan="on",
        access_log=False,  # the gateway writes its own JSON access log off the request path
        # per-request work the gateway does not need: X-Forwarded-* rewriting, and the
        # Server and Date headers (the request id identifies an answer)
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=int(settings.graceful_timeout_s),
        log_level="info",
    )


def _remove_stale_metrics(tmp: Path) -> None:
    """Metrics folders of earlier ``serve`` runs whose process is gone (uvicorn exits by
    re-raising SIGTERM, so a run cannot remove its own folder on the way out)."""
    for folder in tmp.glob("metrics-*"):
        pid = folder.name.removeprefix("metrics-")
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)

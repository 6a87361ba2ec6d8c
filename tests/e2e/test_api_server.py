"""`modelward server` over real HTTP on loopback, with the typed client (and the dashboard)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelward.api.client import Client
from modelward.config import Workspace, init_workspace
from modelward.errors import Unauthenticated
from modelward.security.tokens import bootstrap_admin
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS

pytestmark = [pytest.mark.slow, *MLFLOW_WARNINGS]
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    root = init_workspace(tmp_path / "ws")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELWARD_", "MLFLOW_"))}
    env |= {
        "MODELWARD_WORKSPACE": str(root),
        "MODELWARD_IDENTITY__USER": "ops",
        "PYTHONPATH": str(REPO),
    }
    with Session(Workspace.open(root, environ=env)) as session:
        _, token = bootstrap_admin(session)
    port = _free_port()
    code = (
        "from tests.unit.registry.support import _wire; _wire(); "
        "from modelward.cli import main; "
        f"main(['server', '--host', '127.0.0.1', '--port', '{port}'])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    killer = threading.Timer(120, proc.kill)  # never outlive the test
    killer.start()
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # uvicorn logs on stderr; wait until it serves
            if "Application startup complete" in line:
                break
        else:
            pytest.fail(f"server exited with {proc.wait()}")
        # keep draining its log so a full pipe never blocks the server
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield f"http://127.0.0.1:{port}", token
    finally:
        killer.cancel()
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def test_server_serves_docs_refuses_no_token_and_answers_the_client(
    served: tuple[str, str],
) -> None:
    base, token = served
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/openapi.json").json()["info"]["title"] == "modelward"
        r = http.get("/api/v1/models")
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        # the dashboard is served by the same process
        assert http.get("/").headers["location"] == "/ui/"
        signin = http.get("/ui/signin")
        assert signin.status_code == 200 and "API token" in signin.text
        assert "style-src 'self'" in signin.headers["content-security-policy"]
        assert http.get("/ui/static/dashboard.css").status_code == 200
    with Client(base, token) as client:
        assert client.whoami().model_dump() == {"name": "ops", "role": "admin", "kind": "user"}
        assert client.models() == []
        assert client.audit_verify().ok is True
    with Client(base, "mwt_000000000000_nope") as client, pytest.raises(Unauthenticated):
        client.whoami()

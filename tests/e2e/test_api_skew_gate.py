"""A promotion through the REST server evaluates the feature-skew gate in the server's
workspace, not in whatever workspace the server process's folder or environment names.

The server runs over workspace A (its feature view materialized from the data it still
has: no skew) from the folder of workspace B (the same view, whose data changed after it
was materialized: every entity skewed), with no ``MODELWARD_WORKSPACE`` set. Before the
gate context carried the session, the gate fell back to the current folder's workspace,
B, and refused the promotion.
"""

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

import modelward
from modelward.config import Workspace, init_workspace
from modelward.examples import EXAMPLE_END, write_example
from modelward.features import apply, materialize
from modelward.registry import set_gate_policy
from modelward.security import bootstrap_admin
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, make_snapshot, quick_version

pytestmark = [pytest.mark.slow, *MLFLOW_WARNINGS]
REPO = Path(__file__).resolve().parents[2]
SKEW_GATE = {"type": "feature_skew", "view": "driver_stats", "sample": 30, "threshold": 0.0}

SERVER = """
import sys
import uvicorn
from modelward.api import create_app
from modelward.session import open_session

root, port = sys.argv[1], int(sys.argv[2])
uvicorn.run(create_app(open_session(root)), host="127.0.0.1", port=port, log_level="info")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELWARD_", "MLFLOW_"))}
    # the server imports the same modelward as this test (a checkout or an installed copy)
    source = f"{Path(modelward.__file__).parents[1]}{os.pathsep}{REPO}"
    return env | {"MODELWARD_IDENTITY__USER": "ops", "PYTHONPATH": source}


@pytest.fixture
def two_workspaces(tmp_path: Path) -> tuple[Path, Path, str]:
    """A: no skew, a version with the skew gate on Staging; B: skewed."""
    served, elsewhere = init_workspace(tmp_path / "a"), init_workspace(tmp_path / "b")
    for root in (served, elsewhere):
        write_example(root)
        with Session(Workspace.open(root, environ=_env())) as session:
            apply(session)
            materialize(session=session, end=EXAMPLE_END)
    write_example(elsewhere, hours=100)  # B's offline values no longer match its online ones
    with Session(Workspace.open(served, environ=_env())) as session:
        admin, token = bootstrap_admin(session)
        version = quick_version(session, "churn", auc=0.8, train=make_snapshot(session))
        set_gate_policy(session, admin.principal(), "churn", "Staging", [SKEW_GATE])
    return served, elsewhere, f"{version.version}|{token}"


@pytest.fixture
def server(two_workspaces: tuple[Path, Path, str]) -> Iterator[tuple[str, str, Path]]:
    served, elsewhere, version_token = two_workspaces
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(served), str(port)],
        env=_env(),
        cwd=elsewhere,  # the folder the process starts in holds another workspace
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(120, proc.kill)  # never outlive the test
    killer.start()
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "Application startup complete" in line:
                break
        else:
            pytest.fail(f"server exited with {proc.wait()}")
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield f"http://127.0.0.1:{port}", version_token, served
    finally:
        killer.cancel()
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def test_the_skew_gate_reads_the_workspace_the_promotion_was_asked_in(
    server: tuple[str, str, Path],
) -> None:
    base, version_token, served = server
    version, token = version_token.split("|")
    with httpx.Client(base_url=base, timeout=60) as http:
        answer = http.post(
            f"/api/v1/models/churn/versions/{version}/transitions",
            json={"to_stage": "Staging", "reason": "skew checked"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text  # B's skew would have refused it (422)
    (result,) = answer.json()["gate_results"]
    assert result["gate"] == "feature_skew" and result["passed"], result
    assert result["evidence"]["sampled"] == 30
    assert result["evidence"]["workspace"] == str(served)

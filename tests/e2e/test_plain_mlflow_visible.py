"""MLflow is the registry's source of truth: a version registered by plain MLflow code is
usable by `promote` and by `serve` at once, with no `models list` (or any sync) between,
and a running gateway serves the next one as soon as the endpoint names it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelward.config import Workspace, init_workspace
from modelward.security.tokens import bootstrap_admin
from modelward.session import Session
from tests.e2e.test_gateway_cli_sigterm import free_port, start
from tests.e2e.test_seed_mlflow import SEED, _env, plugin_path  # noqa: F401 - a fixture
from tests.unit.registry.support import MLFLOW_WARNINGS, cli, git_commit_all

pytestmark = [pytest.mark.slow, *MLFLOW_WARNINGS]

MODEL = "customer_churn_predictor"
FEATURES = [f"f{i}" for i in range(8)]
TRAIN = (
    "from sklearn.datasets import make_classification\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "X, y = make_classification(n_samples=300, n_features=8, random_state=0)\n"
    "model = LogisticRegression().fit(X, y)\n" + SEED
)


def _endpoint(name: str, version: int) -> str:
    fields = ", ".join(f"{f}: float" for f in FEATURES)
    return (
        f"name: {name}\nmodel: {MODEL}@{version}\nrequest: {{{fields}}}\n"
        "fallback: {response: -1.0}\n"
    )


@pytest.fixture
def ws(tmp_path: Path) -> tuple[Workspace, str]:
    from modelward.registry import tracking

    root = init_workspace(tmp_path / "ws")
    git_commit_all(root)
    workspace = Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "data-scientist"})
    tracking.ensure_store(workspace)
    with Session(workspace) as session:
        _, token = bootstrap_admin(session)
    (root / "train.py").write_text(TRAIN)
    return workspace, token


def _train(ws: Workspace, plugin_path: str) -> None:  # noqa: F811 - the fixture's value
    """`python train.py` from the workspace root, exactly as the seed's user runs it."""
    done = subprocess.run(
        [sys.executable, "train.py"],
        cwd=ws.root,
        env=_env(plugin_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_promote_right_after_plain_python_train(
    ws: tuple[Workspace, str],
    plugin_path: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workspace, _ = ws
    _train(workspace, plugin_path)
    # no `models list` in between: the promote itself finds the version in MLflow
    code, _, err = cli(
        capsys,
        monkeypatch,
        workspace,
        "promote",
        f"{MODEL}@1",
        "--to",
        "Staging",
        "--reason",
        "try",
    )
    assert "not registered" not in err
    assert code == 1 and "lineage_complete: lineage incomplete" in err  # found, then gated
    code, out, err = cli(
        capsys,
        monkeypatch,
        workspace,
        "promote",
        f"{MODEL}@1",
        "--to",
        "Staging",
        "--reason",
        "first look",
        "--override",
        "plain MLflow experiment, reviewed by hand",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["to_stage"] == "Staging"
    code, out, _ = cli(capsys, monkeypatch, workspace, "audit", "log", "--json")
    actions = [e["action"] for e in json.loads(out)]
    assert actions.index("model.version.discovered") < actions.index("model.promote")


def _predict(base: str, token: str, endpoint: str) -> httpx.Response:
    body = {"inputs": dict.fromkeys(FEATURES, 0.5)}
    return httpx.post(
        f"{base}/v1/endpoints/{endpoint}/predict",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )


def _served_by(
    base: str, token: str, endpoint: str, version: str, deadline_s: float
) -> dict[str, object]:
    """Poll the endpoint until ``version`` (not the fallback) answers, within a deadline."""
    deadline = time.monotonic() + deadline_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            r = _predict(base, token, endpoint)
        except httpx.TransportError as exc:
            last = repr(exc)
        else:
            if r.status_code == 200 and r.json().get("model_version") == version:
                answer: dict[str, object] = r.json()
                return answer
            last = f"{r.status_code} {r.text[:300]}"
        time.sleep(0.2)
    pytest.fail(f"endpoint {endpoint} not served by version {version} in {deadline_s} s: {last}")


def test_serve_right_after_plain_python_train_and_a_running_gateway_takes_the_next(
    ws: tuple[Workspace, str],
    plugin_path: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workspace, token = ws
    root = workspace.root
    _train(workspace, plugin_path)
    spec = root / "churn.yaml"
    spec.write_text(_endpoint("churn", 1))
    monkeypatch.setenv("MODELWARD_TOKEN", token)
    code, _, err = cli(capsys, monkeypatch, workspace, "endpoints", "create", str(spec))
    assert code == 0, err

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = start(root, port, 1, log)
    try:
        answer = _served_by(base, token, "churn", "1", deadline_s=120)
        assert answer["degraded"] is False
        # plain MLflow code registers version 2 while the gateway runs; pointing the
        # endpoint at it is the only step, and the gateway serves it within its polls
        _train(workspace, plugin_path)
        spec.write_text(_endpoint("churn", 2))
        code, _, err = cli(capsys, monkeypatch, workspace, "endpoints", "update", str(spec))
        assert code == 0, err
        _served_by(base, token, "churn", "2", deadline_s=60)
    finally:
        proc.terminate()
        proc.wait(timeout=60)

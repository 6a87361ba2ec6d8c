"""Issue 14.3-14.5 as a user meets them: a load test of a served endpoint recorded as
evidence and read back by the readiness report, and the endpoint as a bundle that serves
its golden predictions from a fresh virtualenv built from the bundle's lock alone.

One workspace for the module: the quickstart test's champion (a small scikit-learn
pipeline, trained in a second) behind the example's churn endpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import modelward
from modelward.cli import main
from modelward.cli.quickstart import EXAMPLE_CUSTOMER
from modelward.config import Workspace, init_workspace
from modelward.errors import InputError
from modelward.examples import ENDPOINT_FILE, example_dir
from modelward.readiness.loadtest import _free_port
from modelward.registry import list_evidence
from modelward.security import bootstrap_admin
from modelward.serving import read_bundle
from modelward.session import Session
from tests.e2e.test_quickstart_endpoint import champion
from tests.unit.registry.support import MLFLOW_WARNINGS

# one worker builds the module's workspace once (the suite runs with --dist loadgroup)
pytestmark = [*MLFLOW_WARNINGS, pytest.mark.slow, pytest.mark.xdist_group("readiness-flow")]

ENVIRON = {"MODELWARD_IDENTITY__USER": "tester", "MODELWARD_SERVING__GC_FREEZE": "false"}
ROWS = [
    EXAMPLE_CUSTOMER,
    {**EXAMPLE_CUSTOMER, "plan": "pro", "logins": 30, "support_tickets": 0},
    {**EXAMPLE_CUSTOMER, "region": "eu", "tenure_months": 48, "monthly_spend": 300.0},
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    root = init_workspace(tmp_path_factory.mktemp("readiness") / "ws", project="readiness")
    # the example's definition with a budget a busy CI machine keeps (past it the fallback
    # answers, and the golden predictions below would be the fallback's)
    definition = (example_dir() / ENDPOINT_FILE).read_text(encoding="utf-8")
    assert "latency_budget_ms: 100" in definition
    (root / ENDPOINT_FILE).write_text(
        definition.replace("latency_budget_ms: 100", "latency_budget_ms: 5000"), "utf-8"
    )
    saved = {k: os.environ.get(k) for k in (*ENVIRON, "MODELWARD_WORKSPACE")}
    os.environ.update(ENVIRON | {"MODELWARD_WORKSPACE": str(root)})
    os.environ.pop("MODELWARD_TOKEN", None)
    os.environ.pop("MODELWARD_DATABASE_URL", None)
    with Session(Workspace.open(root, environ=ENVIRON)) as session:
        model = champion(session)
        bootstrap_admin(session)
    try:
        yield root, model
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_a_load_test_is_recorded_and_the_readiness_report_reads_it(
    served: tuple[Path, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = served
    assert cli(capsys, "endpoints", "create", str(root / ENDPOINT_FILE))[0] == 0
    code, out, err = cli(
        capsys, "loadtest", "churn", "--concurrency", "2", "--duration", "1", "--workers", "1",
        "--json",
    )  # fmt: skip
    measured = json.loads(out)
    assert code == (0 if measured["passed"] else 1), err
    assert measured["version"] == "churn@1" and measured["requests"] > 0
    # every request answered; on a busy machine some by the fallback, past the budget
    assert measured["statuses"] == {"200": measured["requests"]}
    assert measured["configuration"]["workers"] == 1
    assert measured["p50_ms"] <= measured["p95_ms"] <= measured["p99_ms"]

    code, out, _ = cli(capsys, "readiness", "churn@production", "--json")
    report = json.loads(out)
    assert code == 1 and report["ref"] == "churn@1" and report["endpoint"] == "churn"
    answers = {a["question"]: a for a in report["answers"]}
    assert answers["load_known"]["pointer"] == measured["evidence"]
    assert answers["load_known"]["answer"] == ("yes" if measured["passed"] else "no")
    assert answers["owner"]["answer"] == "no"
    assert cli(capsys, "models", "owner", "churn", "--owner", "risk", "--on-call", "pager")[0] == 0
    code, out, _ = cli(capsys, "readiness", "churn@1", "--json")
    owner = {a["question"]: a for a in json.loads(out)["answers"]}["owner"]
    assert (owner["answer"], owner["evidence"]) == ("yes", "owner risk, on call pager")
    code, out, _ = cli(capsys, "readiness", "churn@1")
    assert code == 1 and "readiness of churn@1 on endpoint churn" in out and "not ready" in out

    with pytest.raises(InputError, match="concurrency"):
        from modelward.readiness import load_test

        with Session(Workspace.open(root, environ=ENVIRON)) as session:
            load_test(session, "churn", concurrency=1000, duration_s=1)


def _fresh_venv(where: Path) -> Path:
    """A virtualenv with no packages of its own that sees this environment's, the way
    ``--system-site-packages`` would see a system Python's: the full install from the lock
    would take minutes, so pip checks the lock against what is there instead."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    source = Path(modelward.__file__).resolve().parents[1]
    (Path(site) / "parent-env.pth").write_text(
        f"{sysconfig.get_paths()['purelib']}\n{source}\n", encoding="utf-8"
    )
    return python


def test_the_bundle_serves_its_golden_predictions_from_a_fresh_venv(
    served: tuple[Path, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root, model = served
    code, _, err = cli(capsys, "endpoints", "create", str(root / ENDPOINT_FILE))
    assert code == 0 or "already exists" in err
    code, out, err = cli(
        capsys, "endpoints", "package", "churn", "--out", str(tmp_path / "b"), "--json"
    )
    assert code == 0, err
    bundle = json.loads(out)
    assert {"endpoint.json", "model/MLmodel", "requirements.lock", "Containerfile"} <= set(
        bundle["files"]
    )
    assert bundle["version"] == "churn@1" and bundle["id"].startswith("sha256:")
    again = json.loads(
        cli(capsys, "endpoints", "package", "churn", "--out", str(tmp_path / "c"), "--json")[1]
    )
    assert again["id"] == bundle["id"]  # same inputs, same bundle
    with Session(Workspace.open(root, environ=ENVIRON)) as session:
        [recorded] = list_evidence(session, kind="bundle", subject="churn@1", limit=1)
    assert recorded.detail["id"] == bundle["id"]
    lock = (tmp_path / "b" / "requirements.lock").read_text()
    assert "scikit-learn==" in lock and "fastapi==" in lock and "modelward==" in lock

    python = _fresh_venv(tmp_path / "venv")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-r", str(tmp_path / "b" / "requirements.lock")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]

    port, token = _free_port(), "bundle-token-for-the-test"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")}
    env |= {"MODELWARD_BUNDLE_TOKEN": token, "HOME": str(tmp_path)}
    log = tmp_path / "serve-bundle.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(python), "-c", "from modelward.cli import main; main()", "endpoints",
             "serve-bundle", str(tmp_path / "b"), "--port", str(port)],
            env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the bundle's gateway never became ready"
            time.sleep(0.2)  # polling a starting process, with a deadline
        predict = f"{url}/v1/endpoints/churn/predict"
        refused = httpx.post(
            predict, json={"inputs": ROWS[0]}, headers={"Authorization": "Bearer x" * 3}
        )
        assert refused.status_code == 401
        expected = model.predict_proba(pd.DataFrame(ROWS))[:, 1]
        for row, want in zip(ROWS, expected, strict=True):
            answer = httpx.post(
                predict, json={"inputs": row}, headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["degraded"] is False and body["model_version"] == "1"
            assert body["prediction"] == pytest.approx(want)
    finally:
        server.terminate()
        server.wait(timeout=30)

    (tmp_path / "b" / "Containerfile").write_text("FROM scratch\n")
    with pytest.raises(InputError, match="differ from the manifest"):
        read_bundle(tmp_path / "b")

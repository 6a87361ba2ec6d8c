"""Async inference as a user runs it: jobs submitted to the gateway ``modelward serve``
builds, ``modelward worker --drain`` scoring them with the registered MLflow model, the
results on ``GET .../jobs/{id}`` and the rows in the prediction log with ``mode=async``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from modelward.config import Workspace
from modelward.monitoring import open_workspace_log
from modelward.security.tokens import load_local_token
from modelward.serving import create_gateway
from modelward.session import Session
from tests.e2e.test_batch_cli import scored_workspace
from tests.unit.registry.support import MLFLOW_WARNINGS, cli

pytestmark = MLFLOW_WARNINGS
__all__ = ["scored_workspace"]  # the fixture: a registered model behind endpoint "tiny"


async def _through_gateway(workspace: Workspace, calls: list[tuple[str, str, Any]]) -> list[Any]:
    token = load_local_token(workspace)
    gateway = create_gateway(Session(workspace), access_log=False)
    transport = httpx.ASGITransport(app=gateway)
    answers = []
    await gateway.startup()
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            for method, path, body in calls:
                answers.append(
                    await http.request(
                        method, path, json=body, headers={"Authorization": f"Bearer {token}"}
                    )
                )
    finally:
        await gateway.shutdown()
    return answers


@pytest.mark.slow
def test_jobs_submitted_to_the_gateway_are_scored_by_the_worker_command(
    scored_workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"id": i, "a": a, "b": 0.0} for i, a in enumerate([1.5, -1.5, 0.2])]
    jobs = "/v1/endpoints/tiny/jobs"
    submitted = asyncio.run(
        _through_gateway(
            scored_workspace,
            [("POST", jobs, {"inputs": rows[0]}), ("POST", jobs, {"inputs": rows[1:]})],
        )
    )
    assert [s.status_code for s in submitted] == [202, 202]
    ids = [s.json()["job_id"] for s in submitted]

    code, out, err = cli(
        capsys, monkeypatch, scored_workspace, "worker", "tiny", "--drain", "--json"
    )
    assert code == 0, err
    assert json.loads(out) == {"endpoint": "tiny", "succeeded": 2, "retried": 0, "dead": 0}

    one, many = asyncio.run(
        _through_gateway(scored_workspace, [("GET", f"{jobs}/{i}", None) for i in ids])
    )
    assert one.json()["status"] == many.json()["status"] == "succeeded"
    assert one.json()["result"]["prediction"] > 0.5 > many.json()["result"]["predictions"][0]
    assert one.json()["result"]["model_version"] == "1"
    with Session(scored_workspace) as session:
        log = open_workspace_log(session)
        try:
            records = [r for r in log.read("tiny") if r.mode == "async"]
        finally:
            log.close()
    assert sorted(r.request_id for r in records) == sorted([ids[0], f"{ids[1]}/0", f"{ids[1]}/1"])

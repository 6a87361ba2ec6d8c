"""The issue's scenarios, live: the churn champion served by the real gateway, its answers
labelled through monitoring, the monitor run over the prediction log, and the retraining
loop's look deciding from what that run found.

One workspace (SQLite) is built once: the churn example trained on its first year, the
champion in Production, two endpoints serving it. Each scenario sends one month of
customers through one endpoint (a few batched requests), labels as many as the scenario
says, runs the monitor and lets the loop look. The loop's decisions on recorded evidence,
and on Postgres, are tested in tests/unit/retraining/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from sqlalchemy import update

from modelward import registry, rollout
from modelward.config import Workspace, init_workspace
from modelward.examples import ENDPOINT_FILE, HISTORY_START, prepare_example, write_churn_data
from modelward.monitoring import ingest_labels, run_monitor
from modelward.pipelines import find_pipeline, get_run, run_pipeline
from modelward.registry.tables import model_versions
from modelward.retraining import list_episodes, tick
from modelward.security import Principal, Role, bootstrap_admin
from modelward.serving import create_endpoint, create_gateway, parse_spec
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS

# one worker builds the module's served churn workspace once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("retraining-scenarios"), *MLFLOW_WARNINGS]

CUSTOMERS = 1_000
#: the loop looks two days after the 13th month's labels came in (30 days after it)
LOOK = HISTORY_START + timedelta(days=12 * 30 + 32)
FIELDS = ["plan", "region", "tenure_months", "support_tickets", "logins", "monthly_spend"]

POLICIES = """
[pipelines]
executor = "inline"

[[retraining.policies]]
name = "churn-calibrated"
endpoint = "churn"
model = "churn"
pipeline = "churn"
recalibration_pipeline = "churn-recalibrate"
window_params = {end = "as_of"}
recalibration_window_days = 75
recalibration_window_params = {start = "window_from", end = "as_of"}
# one month of 1,000 customers measures an AUC to a few hundredths: the ranking "holds"
# within 0.09 here, and a fall of 0.1 is a retrain
triggers = {max_auc_drop = 0.1}
checks = {persistence = 1, recalibrate_auc_tolerance = 0.09}

[[retraining.policies]]
name = "churn-guarded"
endpoint = "churn-b"
model = "churn"
pipeline = "churn"
window_params = {end = "as_of"}
triggers = {max_auc_drop = 0.02}
checks = {persistence = 1, min_label_coverage = 0.3, expected_label_delay_h = 720}
"""


@dataclass
class Live:
    root: Path
    session: Session
    token: str
    admin: Principal


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("scenarios") / "ws"
    init_workspace(root, project="churn")
    prepare_example(root, customers=CUSTOMERS)
    with (root / "modelward.toml").open("a") as toml:
        toml.write(POLICIES)
    session = Session(Workspace.open(root, environ={"MODELWARD_IDENTITY__USER": "tester"}))
    first = run_pipeline(session, find_pipeline(session, "churn"))
    assert first.ok, first.error
    # the champion, as the stage policy's gates and approvals would have made it
    with session.store.transaction() as conn:
        conn.execute(
            update(model_versions)
            .where(model_versions.c.model_name == "churn", model_versions.c.version == 1)
            .values(stage="Production")
        )
    _, token = bootstrap_admin(session)
    admin = Principal(session.actor, Role.ADMIN)
    definition = yaml.safe_load((root / ENDPOINT_FILE).read_text(encoding="utf-8"))
    # a month's customers are asked in a few large batches: a budget for a batch, not a row
    definition["latency_budget_ms"] = 30_000
    for name in ("churn", "churn-b"):
        create_endpoint(session, admin, parse_spec({**definition, "name": name}))
    try:
        yield Live(root, session, token, admin)
    finally:
        session.close()


def _month(root: Path, month: int) -> list[dict[str, Any]]:
    """The customers observed in ``month``, with whether each churned."""
    at = HISTORY_START + timedelta(days=month * 30)
    activity = pq.read_table(root / "data" / "activity.parquet")
    activity = activity.filter(pc.equal(activity["event_timestamp"], at))
    labels = pq.read_table(root / "data" / "labels.parquet")
    labels = labels.filter(pc.equal(labels["event_timestamp"], at + timedelta(hours=1)))
    churned = dict(
        zip(labels["customer_id"].to_pylist(), labels["churned"].to_pylist(), strict=True)
    )
    return [
        {"inputs": {f: row[f] for f in FIELDS}, "churned": churned[row["customer_id"]]}
        for row in activity.to_pylist()
    ]


def _serve(live: Live, endpoint: str, rows: list[dict[str, Any]]) -> list[str]:
    """Ask ``endpoint`` about every row (batches of 250) through the in-process gateway;
    the request id each row's answer was logged under."""
    import httpx

    async def ask() -> list[str]:
        gateway = create_gateway(
            Session(Workspace.open(live.root, environ={"MODELWARD_IDENTITY__USER": "tester"})),
            only=frozenset({endpoint}),
            access_log=False,
        )
        await gateway.startup()
        ids: list[str] = []
        try:
            transport = httpx.ASGITransport(app=gateway)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                for i in range(0, len(rows), 250):
                    batch = [r["inputs"] for r in rows[i : i + 250]]
                    answer = await http.post(
                        f"/v1/endpoints/{endpoint}/predict",
                        json={"inputs": batch},
                        headers={"Authorization": f"Bearer {live.token}"},
                    )
                    assert answer.status_code == 200, answer.text
                    body = answer.json()
                    assert not body["degraded"], body.get("reason")
                    ids.extend(f"{body['request_id']}/{j}" for j in range(len(batch)))
        finally:
            await gateway.shutdown()  # the prediction log is written out before it returns
        return ids

    return asyncio.run(ask())


def _label(live: Live, endpoint: str, ids: list[str], rows: list[dict[str, Any]]) -> None:
    labelled = [{"request_id": i, "label": r["churned"]} for i, r in zip(ids, rows, strict=True)]
    ingest_labels(live.session, live.admin, endpoint, labelled)


def test_calibration_drift_is_recalibrated_and_the_calibrated_version_is_shadowed(
    live: Live,
) -> None:
    # a thirteenth month in which more customers churn than the champion says
    write_churn_data(
        live.root / "data", customers=CUSTOMERS, months=13, drift="calibration", drift_from=11
    )
    rows = _month(live.root, 12)
    _label(live, "churn", _serve(live, "churn", rows), rows)
    monitored = run_monitor(live.session, "churn", window=timedelta(hours=2))
    (served,) = monitored.versions
    assert served.performance is not None and served.performance["coverage"] == 1.0
    tick(live.session, now=LOOK)
    (episode,) = list_episodes(live.session, "churn-calibrated")
    assert (episode.kind, episode.decision) == ("performance", "recalibrate"), episode.checks
    assert episode.key == "calibration:churn@1"
    # the recalibration ran through the pipelines context over the recent window
    run = get_run(live.session, episode.run_id or "")
    assert run.pipeline == "churn-recalibrate" and run.trigger == "retraining"
    assert run.params["window_from"] == (LOOK - timedelta(days=75)).isoformat()
    assert run.params["as_of"] == LOOK.isoformat()
    assert episode.candidate == "churn@2", episode.reason
    calibrated = registry.get_version(live.session, "churn@2")
    assert calibrated.lineage["recalibrated_from"] == {"version": "churn@1", "method": "isotonic"}
    acceptance = calibrated.lineage["pipeline_run"]["acceptance"]
    assert acceptance["passed"] and acceptance["champion"] == "churn@1"
    # the same doors as a retrained candidate: a shadow release, the stage untouched
    assert (episode.state, episode.stage) == ("releasing", 0), episode.reason
    release = rollout.get_release(live.session, episode.release_id or "")
    assert (release.strategy.value, release.baseline, release.candidate) == (
        "shadow",
        "churn@1",
        "churn@2",
    )
    assert registry.get_version(live.session, "churn@production").ref == "churn@1"


def test_delayed_labels_wait_with_the_coverage_and_start_no_run(live: Live) -> None:
    # the same thirteenth month as the recalibration scenario (written again, the same
    # bytes, so this test does not depend on running after it)
    write_churn_data(
        live.root / "data", customers=CUSTOMERS, months=13, drift="calibration", drift_from=11
    )
    rows = _month(live.root, 12)
    assert rows, "no customers observed in month 12"
    ids = _serve(live, "churn-b", rows)
    # a tenth of the month's outcomes are in; the rest take their 30 days
    _label(live, "churn-b", ids[:100], rows[:100])
    seen = run_monitor(live.session, "churn-b", window=timedelta(hours=2))
    tick(live.session, now=LOOK)
    episodes = list_episodes(live.session, "churn-guarded")
    # what the trigger saw, should it not fire (seen once in CI on a loaded machine)
    assert len(episodes) == 1, (seen.rows, seen.conditions, seen.notes, seen.versions)
    (episode,) = episodes
    assert (episode.decision, episode.state) == ("wait", "waited"), episode.checks
    assert episode.reason == "label coverage 10% < 30% (labels take about 720 h)"
    assert episode.checks[-1]["name"] == "labels" and not episode.checks[-1]["passed"]
    assert episode.run_id is None and episode.window_start is None

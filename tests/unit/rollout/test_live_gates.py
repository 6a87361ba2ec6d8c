"""The live-evidence stage-policy gates: ``staging_schema`` checks what the version saw in
staging traffic against its signature, ``load_test_latency`` reads the recorded load test;
each passes, fails, and refuses with a reason when its evidence is missing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from modelward.config import Workspace
from modelward.config.settings import ServingSettings
from modelward.errors import ConfigError
from modelward.monitoring import PredictionRecord, open_workspace_log
from modelward.monitoring.predictions import PredictionLogWriter
from modelward.registry import GateContext, get_version, record_evidence
from modelward.registry.gates import build_gates
from modelward.registry.tables import evidence, model_versions
from modelward.serving.auth import TokenVerifier
from modelward.serving.config_cache import EndpointCache, Sources
from modelward.serving.gateway import Gateway
from modelward.serving.metrics import GatewayMetrics
from modelward.serving.models import ObjectModelLoader, StaticModelResolver
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.rollout.support import Setup, setup
from tests.unit.serving.support import (
    AUTH,
    ConstantModel,
    World,
    authenticate,
    run,
    serving,
    spec,
)

pytestmark = MLFLOW_WARNINGS
STAGING = "churn-staging"
SIGNATURE = [
    {"type": "string", "name": "plan", "required": True},
    {"type": "double", "name": "tenure", "required": True},
    {"type": "long", "name": "seats", "required": True},
    {"type": "double", "name": "discount", "required": False},
]


@pytest.fixture
def w(sqlite_workspace: Workspace) -> Iterator[Setup]:
    made = setup(sqlite_workspace)
    yield made
    made.session.close()


def _with_signature(w: Setup, tmp_path: Path, signature: list[dict[str, Any]] = SIGNATURE) -> None:
    """The candidate's artifact: an MLflow model folder whose MLmodel has a signature."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text(
        "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.pyfunc\n"
        f"signature:\n  inputs: '{json.dumps(signature)}'\n  outputs: null\n",
        encoding="utf-8",
    )
    name, number = w.candidate.split("@")
    with w.session.store.transaction() as conn:
        conn.execute(
            update(model_versions)
            .where(model_versions.c.model_name == name, model_versions.c.version == int(number))
            .values(model_uri=folder.as_uri())
        )


def _traffic(w: Setup, rows: list[dict[str, Any]], *, version: str | None = None) -> None:
    at = int(datetime.now(UTC).timestamp() * 1e6) - 60_000_000
    version = version or w.candidate.split("@")[1]
    sink = open_workspace_log(w.session)
    try:
        sink.write(
            [
                PredictionRecord(f"s{i}", at + i, STAGING, "churn", version, row, 0.3, 12.0, False)
                for i, row in enumerate(rows)
            ]
        )
    finally:
        sink.close()


def _good(i: int) -> dict[str, Any]:
    return {"plan": ("basic", "pro")[i % 2], "tenure": float(i % 60), "seats": i % 7 + 1}


def _gate(w: Setup, spec: dict[str, Any], ref: str | None = None) -> tuple[bool, str, dict]:  # type: ignore[type-arg]
    (gate,) = build_gates([spec])
    version = get_version(w.session, ref or w.candidate)
    result = gate.evaluate(GateContext(version, None, "Production", session=w.session))
    return result.passed, result.message, result.evidence


def test_staging_traffic_that_fits_the_signature_passes(w: Setup, tmp_path: Path) -> None:
    _with_signature(w, tmp_path)
    _traffic(w, [_good(i) for i in range(150)])
    _traffic(w, [{"plan": 1}] * 40, version=w.baseline.split("@")[1])  # another version's
    passed, message, found = _gate(w, {"type": "staging_schema", "endpoint": STAGING})
    assert passed, message
    assert found["rows"] == 150 and found["violating_rows"] == 0 and found["verdict"] == "pass"
    assert "0 schema violations" in message


def test_rows_that_break_the_signature_fail_the_gate_by_input(w: Setup, tmp_path: Path) -> None:
    _with_signature(w, tmp_path)
    rows = [_good(i) for i in range(150)]
    rows[3] = {"plan": "pro", "seats": 2}  # tenure missing
    rows[7] = {**rows[7], "tenure": "long time"}  # text where a number belongs
    rows[9] = {**rows[9], "seats": 2.5}  # not a whole number
    rows[11] = {**rows[11], "plan": None}
    _traffic(w, rows)
    passed, message, found = _gate(w, {"type": "staging_schema", "endpoint": STAGING})
    assert not passed
    assert found["violating_rows"] == 4 and found["verdict"] == "fail"
    assert found["by_input"] == {"plan": 1, "seats": 1, "tenure": 2}
    assert found["examples"] == ["s3", "s7", "s9", "s11"]
    assert "4 of 150 rows of churn@2 on churn-staging break its signature" in message
    allowed = {"type": "staging_schema", "endpoint": STAGING, "max_violations": 4}
    assert _gate(w, allowed)[0]


def test_too_little_traffic_or_no_signature_is_unknown_and_refused(
    w: Setup, tmp_path: Path
) -> None:
    passed, message, found = _gate(w, {"type": "staging_schema", "endpoint": STAGING})
    assert not passed and found["verdict"] == "unknown"
    assert message.startswith("unknown: churn@2 has no input signature")
    _with_signature(w, tmp_path)
    _traffic(w, [_good(i) for i in range(20)])
    passed, message, found = _gate(w, {"type": "staging_schema", "endpoint": STAGING})
    assert not passed and found["verdict"] == "unknown" and found["rows"] == 20
    assert "fewer than the 100 needed" in message
    spec = {"type": "staging_schema", "endpoint": STAGING, "min_rows": 20, "window": "1h"}
    assert _gate(w, spec)[0]


def _load_test(w: Setup, ref: str, p95: float, error_rate: float = 0.0) -> None:
    record_evidence(
        w.session,
        "load_test",
        ref,
        summary=f"p95 {p95} ms",
        detail={"p95_ms": p95, "p99_ms": p95 * 1.5, "error_rate": error_rate},
        passed=True,
        endpoint="churn",
    )


def test_the_load_test_gate_reads_the_recorded_p95(w: Setup) -> None:
    spec = {"type": "load_test_latency", "max_p95_ms": 50, "endpoint": "churn"}
    passed, message, found = _gate(w, spec)
    assert not passed and found["verdict"] == "unknown"
    assert "no recorded load test of churn@2 on churn" in message
    assert "modelward loadtest churn --version 2" in message
    _load_test(w, w.candidate, 38.0)
    _load_test(w, w.baseline, 500.0)  # another version's run is not this one's evidence
    passed, message, found = _gate(w, spec)
    assert passed, message
    assert found["p95_ms"] == 38.0 and found["load_test"].startswith("evidence:")
    passed, message, _ = _gate(w, {**spec, "max_p95_ms": 20})
    assert not passed and "p95 38.0 ms above 20 ms" in message
    _load_test(w, w.candidate, 30.0, error_rate=0.05)  # the newest run counts
    passed, message, _ = _gate(w, spec)
    assert not passed and "errors 5.00% above 1.00%" in message


def test_an_old_load_test_is_unknown(w: Setup) -> None:
    _load_test(w, w.candidate, 10.0)
    with w.session.store.transaction() as conn:
        conn.execute(update(evidence).values(recorded_at=datetime.now(UTC) - timedelta(days=9)))
    spec = {"type": "load_test_latency", "max_p95_ms": 50, "max_age": "7d"}
    passed, message, found = _gate(w, spec)
    assert not passed and found["verdict"] == "unknown"
    assert "old, older than 7d" in message
    assert _gate(w, {**spec, "max_age": "10d"})[0]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "staging_schema"}, "endpoint"),
        ({"type": "staging_schema", "endpoint": STAGING, "window": "soon"}, "window"),
        ({"type": "staging_schema", "endpoint": STAGING, "min_rows": -1}, "min_rows"),
        ({"type": "staging_schema", "endpoint": STAGING, "rows": 5}, "rows"),
        ({"type": "load_test_latency"}, "max_p95_ms"),
        ({"type": "load_test_latency", "max_p95_ms": "fast"}, "max_p95_ms"),
        ({"type": "load_test_latency", "max_p95_ms": 5, "max_error_rate": 2}, "max_error_rate"),
    ],
)
def test_a_bad_gate_parameter_is_named(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        build_gates([spec])


def test_requests_the_gateway_refused_in_staging_fail_the_gate_with_their_count(
    w: Setup, tmp_path: Path
) -> None:
    """Through the real gateway: a 422 never reaches the model, yet the gate counts it."""
    _with_signature(w, tmp_path, [s for s in SIGNATURE if s["name"] in ("tenure", "seats")])
    world = World()
    world.model(w.candidate, ConstantModel(0.3), w.candidate.split("@")[1])
    world.put(spec(STAGING, w.candidate, request={"tenure": "float", "seats": "int"}))
    sources = Sources(
        load_endpoints=world.load,
        resolver=StaticModelResolver(world.models),
        loader=ObjectModelLoader(),
    )
    metrics = GatewayMetrics()
    gateway = Gateway(
        ServingSettings(access_log=False, gc_freeze=False, poll_interval_s=3600),
        EndpointCache(sources, metrics),
        TokenVerifier(authenticate, ttl_s=60),
        PredictionLogWriter(open_workspace_log(w.session), flush_interval_s=0.01),
        metrics,
    )
    url = f"/v1/endpoints/{STAGING}/predict"
    bad = [{"tenure": "long time", "seats": 2}, {"tenure": 3.0}, {"tenure": 1.0, "seats": 2.5}]

    async def staging() -> list[int]:
        async with serving(gateway) as http:
            good = [{"tenure": float(i % 60), "seats": i % 7 + 1} for i in range(120)]
            sent = [await http.post(url, json={"inputs": r}, headers=AUTH) for r in good + bad]
            return [r.status_code for r in sent]

    statuses = run(staging())  # leaving it shuts the gateway down: the log is flushed
    assert statuses == [200] * 120 + [422] * 3
    passed, message, found = _gate(w, {"type": "staging_schema", "endpoint": STAGING})
    assert not passed and found["verdict"] == "fail"
    assert found["rows"] == 123 and found["rejected_requests"] == 3
    assert found["violating_rows"] == 3 and found["by_input"] == {}
    assert (
        "3 of 123 rows of churn@2 on churn-staging break its signature (allowed 0): "
        "3 refused by the gateway's validation (422)"
    ) in message
    assert [e["error"] for e in found["rejected_examples"]] == [
        "RequestInvalid: inputs.tenure must be a finite number",
        "RequestInvalid: inputs.seats is required",
        "RequestInvalid: inputs.seats must be a 64-bit integer",
    ]
    assert _gate(w, {"type": "staging_schema", "endpoint": STAGING, "max_violations": 3})[0]

"""Blue-green's smoke test through the gateway's real HTTP path (uvicorn on a loopback
port, in a thread): green answers the golden rows before the switch; a mismatch or a
caller who may not operate means no switch, with the evidence on the release."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from modelward import rollout, security, serving
from modelward.config import Workspace
from modelward.config.settings import ServingSettings
from modelward.errors import CheckFailed, Unauthenticated
from modelward.monitoring.predictions import PredictionLogWriter
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.rollout import GoldenRows
from modelward.security import Principal, Role
from modelward.serving.auth import TokenVerifier
from modelward.serving.config_cache import EndpointCache, Sources
from modelward.serving.gateway import Gateway
from modelward.serving.metrics import GatewayMetrics
from modelward.serving.models import ObjectModelLoader, StaticModelResolver
from tests.unit.registry.support import MLFLOW_WARNINGS, admin
from tests.unit.rollout.support import Setup, setup
from tests.unit.serving.support import FIELDS, ConstantModel, World, spec

pytestmark = MLFLOW_WARNINGS
TOKENS = {
    "tok-op": Principal("olga", Role.OPERATOR),
    "tok-dev": Principal("dev", Role.DEVELOPER),
}
#: as a pipeline stores them: every column the model saw, and more (the request takes its own)
GOLDEN_ROWS = [{"f0": float(i), "f1": 1.0, "f2": 2.0, "f3": 3.0, "label": 1} for i in range(5)]


def _authenticate(token: str) -> Principal:
    try:
        return TOKENS[token]
    except KeyError:
        raise Unauthenticated("the API token is not valid") from None


@pytest.fixture
def w(workspace: Workspace) -> Iterator[Setup]:
    made = setup(workspace)
    endpoint = serving.parse_spec({"name": "churn", "model": made.baseline, "request": FIELDS})
    serving.create_endpoint(made.session, admin(made.session), endpoint)
    rollout.start_release(
        made.session,
        made.operator,
        endpoint="churn",
        baseline=made.baseline,
        candidate=made.candidate,
        strategy="blue-green",
    )
    yield made
    made.session.close()


@pytest.fixture
def gateway(w: Setup) -> Iterator[httpx.Client]:
    """Blue answers 0.2, green 0.3; served by uvicorn on a free port."""
    world = World()
    world.model(w.baseline, ConstantModel(0.2), "1")
    world.model(w.candidate, ConstantModel(0.3), "2")
    world.put(spec("churn", w.baseline))
    metrics = GatewayMetrics()
    sources = Sources(
        load_endpoints=world.load,
        resolver=StaticModelResolver(world.models),
        loader=ObjectModelLoader(),
        load_plans=lambda: rollout.current_plans(w.session),
    )
    app = Gateway(
        ServingSettings(access_log=False, gc_freeze=False, poll_interval_s=0.05),
        EndpointCache(sources, metrics),
        TokenVerifier(_authenticate, ttl_s=60),
        PredictionLogWriter(MemoryPredictionSink(), flush_interval_s=0.01),
        metrics,
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", access_log=False, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-blue-green", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client
    server.should_exit = True
    thread.join(30)


def _switch(w: Setup, client: httpx.Client, expected: float, token: str = "tok-op") -> None:
    serving.switch(
        w.session,
        w.operator,
        "churn",
        gateway=client,
        token=token,
        golden=GoldenRows(GOLDEN_ROWS, [expected] * len(GOLDEN_ROWS)),
    )


def _audit(w: Setup) -> list[security.AuditEntry]:
    with w.session.store.read() as conn:
        return list(security.entries(conn, target="endpoint:churn"))


def test_green_answers_the_golden_rows_over_http_before_the_switch(
    w: Setup, gateway: httpx.Client
) -> None:
    # golden predictions green does not give: no switch, the mismatches are the evidence
    with pytest.raises(CheckFailed, match="5 of 5 golden rows differ"):
        _switch(w, gateway, expected=0.9)
    release = rollout.current_release(w.session, "churn")
    assert release.step == 0 and release.weight == 0  # blue still answers everything
    smoke = release.last_analysis["smoke"]  # type: ignore[index]
    assert smoke["passed"] is False and smoke["mismatches"][0]["got"] == pytest.approx(0.3)
    assert _audit(w)[-1].action == "release.smoke"
    # a caller who may not operate cannot make green answer: no switch either
    with pytest.raises(CheckFailed, match="answered 403"):
        _switch(w, gateway, expected=0.3, token="tok-dev")
    assert rollout.current_release(w.session, "churn").step == 0
    # green as expected: the switch, with the smoke result as its evidence
    _switch(w, gateway, expected=0.3)
    release = rollout.current_release(w.session, "churn")
    assert release.step == 1 and release.weight == 100
    last = _audit(w)[-1]
    assert last.action == "release.advance" and last.payload["evidence"]["smoke"]["passed"]
    # the gateway's next poll switches every request to green
    deadline = time.monotonic() + 30
    while (
        gateway.post(
            "/v1/endpoints/churn/predict",
            json={"inputs": {name: 0.5 for name in FIELDS}},
            headers={"Authorization": "Bearer tok-dev"},
        ).json()["model_version"]
        != "2"
    ):
        assert time.monotonic() < deadline, "the gateway never switched to green"
        time.sleep(0.02)

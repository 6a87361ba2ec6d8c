"""A release end to end through the real processes (issue 10's "done when"): `modelward
serve` answers live traffic from several clients while `modelward rollout controller`
judges what it logged; a bad candidate is rolled back and a good one promoted, and not one
request fails on the way, on SQLite and on Postgres.

The models are real: the churn endpoint's GBM as the baseline (churn@1), one trained on
the inverted label as the bad candidate (its scores are the baseline's mirror image) and
one trained with another seed on the same label as the good candidate. Their lineage is
marked complete in the registry's table, since the release refuses a candidate whose
lineage gate fails and lineage is not what this test is about.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import update

from modelward import rollout
from modelward.config import Workspace
from modelward.rollout import RolloutPolicy
from modelward.security import Principal, Role
from modelward.session import Session
from tests.e2e.test_gateway_cli_sigterm import LAUNCH, free_port, wait_ready
from tests.integration.flows.test_gateway_churn import build_churn, training_matrix
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.registry.test_lineage import complete

pytestmark = [pytest.mark.slow, *MLFLOW_WARNINGS]
ROWS = 300
POLICY = RolloutPolicy(steps=[50], interval_s=1, min_sample=60, metrics=[{"metric": "score"}])


def _register(session: Session, y_of: str, seed: int) -> str:
    """A GBM on the churn endpoint's inputs, registered as the next version of churn."""
    import mlflow
    from sklearn.ensemble import GradientBoostingClassifier

    from modelward.registry import tracking, versions
    from modelward.registry.serialization import trusted_types_for
    from modelward.registry.tables import model_versions

    x, y = training_matrix(session, ROWS)  # the baseline's inputs and label
    if y_of == "inverted":
        y = 1 - y
    model = GradientBoostingClassifier(n_estimators=5, max_depth=3, random_state=seed).fit(x, y)
    with tracking.using_workspace(session.workspace), mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            skops_trusted_types=trusted_types_for(model),
            # named, not inferred: MLflow's inference imports the model in a subprocess
            pip_requirements=["scikit-learn"],
        )
    version = versions.register(session, "churn", model_uri=info.model_uri)
    with session.store.transaction() as conn:
        conn.execute(
            update(model_versions)
            .where(model_versions.c.model_name == "churn")
            .where(model_versions.c.version == version.version)
            .values(lineage=complete(), lineage_complete=True, lineage_missing=[])
        )
    return version.ref


class Traffic:
    """Clients on threads, each sending requests back to back until stopped; every
    answer's status and model version counted."""

    def __init__(self, base: str, token: str, clients: int = 4) -> None:
        self.base, self.auth = base, {"Authorization": f"Bearer {token}"}
        self.statuses: Counter[int] = Counter()
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i,)) for i in range(clients)]

    def _client(self, index: int) -> None:
        rng = np.random.default_rng(index)
        with httpx.Client(base_url=self.base, timeout=30.0) as http:
            while not self._stop.is_set():
                body = {
                    "inputs": {
                        "customer_id": int(rng.integers(1, ROWS + 1)),
                        "email": "a@example.com",
                        "discount": 0.1,
                    }
                }
                try:
                    r = http.post("/v1/endpoints/churn/predict", json=body, headers=self.auth)
                except httpx.HTTPError as exc:  # a dropped connection is a failed request
                    with self._lock:
                        self.failures.append(repr(exc))
                    continue
                with self._lock:
                    self.statuses[r.status_code] += 1
                    if r.status_code == 200:
                        answer = r.json()
                        self.versions[str(answer["model_version"])] += 1
                        if answer.get("degraded"):
                            self.failures.append(f"degraded: {answer}")
                    else:
                        self.failures.append(r.text[:300])

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def answered_by(self, version: str, at_least: int, deadline_s: float = 120) -> None:
        """Wait (polling) until ``version`` has answered ``at_least`` more requests."""
        with self._lock:
            target = self.versions[version] + at_least
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.versions[version] >= target:
                    return
            time.sleep(0.05)
        pytest.fail(f"churn@{version} answered fewer than {at_least} requests: {self.versions}")


def _state_becomes(session: Session, release_id: str, want: str, deadline_s: float = 180) -> None:
    deadline = time.monotonic() + deadline_s
    state = ""
    while time.monotonic() < deadline:
        state = rollout.get_release(session, release_id).state
        if state == want:
            return
        assert state in {"running", want}, f"release {release_id} is {state}, not {want}"
        time.sleep(0.2)
    pytest.fail(f"release {release_id} is still {state} after {deadline_s} s, not {want}")


@pytest.fixture
def processes(
    workspace: Workspace, workspace_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Session, str, str]]:
    """The churn endpoint on churn@1 with two candidates registered; `modelward serve`
    and `modelward rollout controller` running on the workspace."""
    session = Session(workspace)
    churn = build_churn(session, rows=ROWS, trees=5)
    _register(session, "inverted", seed=0)  # churn@2: the bad candidate
    _register(session, "same", seed=1)  # churn@3: the good one
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODELWARD_")},
        **workspace_env,
        "MODELWARD_WORKSPACE": str(workspace.root),
        # the gateway sees a new traffic plan within half a second
        "MODELWARD_SERVING__POLL_INTERVAL_S": "0.5",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve_log, controller_log = tmp_path / "serve.log", tmp_path / "controller.log"
    running = []
    with serve_log.open("wb") as out:
        running.append(
            subprocess.Popen(
                [sys.executable, "-c", LAUNCH, "serve", "--port", str(port), "--workers", "1"],
                cwd=workspace.root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        wait_ready(running[0], base, serve_log)
        exe = Path(sys.executable).with_name("modelward")
        with controller_log.open("wb") as out:
            running.append(
                subprocess.Popen(
                    [str(exe), "rollout", "controller", "--interval", "0.5"],
                    cwd=workspace.root,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        yield session, base, churn.token
        assert running[1].poll() is None, controller_log.read_text()[-3000:]
    finally:
        for proc in running:
            proc.terminate()
        for proc in running:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        session.close()


@pytest.mark.timeout(900)  # three models, a server and a controller on a loaded machine
def test_under_load_a_bad_candidate_is_rolled_back_and_a_good_one_promoted(
    processes: tuple[Session, str, str],
) -> None:
    session, base, token = processes
    admin = Principal(session.actor, Role.ADMIN)
    with Traffic(base, token) as traffic:
        traffic.answered_by("1", 50)
        bad = rollout.start_release(
            session,
            admin,
            endpoint="churn",
            baseline="churn@1",
            candidate="churn@2",
            strategy="canary",
            policy=POLICY,
        )
        traffic.answered_by("2", 20)  # the gateway routes half the customers to it
        _state_becomes(session, bad.id, "rolled_back")
        traffic.answered_by("1", 300)  # the gateway polls the plan every 0.5 s
        settled = traffic.versions["2"]
        traffic.answered_by("1", 300)
        assert traffic.versions["2"] == settled  # the baseline answers everything again

        good = rollout.start_release(
            session,
            admin,
            endpoint="churn",
            baseline="churn@1",
            candidate="churn@3",
            strategy="canary",
            policy=POLICY,
        )
        _state_becomes(session, good.id, "promoted")
        traffic.answered_by("3", 300)
        settled = traffic.versions["1"]
        traffic.answered_by("3", 300)
        assert traffic.versions["1"] == settled  # churn@3 answers everything
    assert traffic.failures == [], traffic.failures[:5]
    assert set(traffic.statuses) == {200}, traffic.statuses
    decided = rollout.get_release(session, bad.id)
    assert decided.state == "rolled_back"

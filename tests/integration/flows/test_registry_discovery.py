"""MLflow is the registry's source of truth: a version created with MLflow's own client is
usable at once by every part of modelward (the gateway's resolver, the REST API, lineage,
approvals, policies, promote) with no sync step, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from modelward import registry
from modelward.api import create_app
from modelward.config import Workspace
from modelward.errors import NotFound
from modelward.registry import approvals, lifecycle, reports, tracking
from modelward.security import audit, tokens
from modelward.security.roles import Role
from modelward.serving.models import RegistryModelResolver
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, admin, git_commit_all, principal

pytestmark = MLFLOW_WARNINGS


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    git_commit_all(workspace.root)
    with Session(workspace) as s:
        yield s


def _plain_mlflow_version(session: Session, name: str = "gbm") -> str:
    """What `mlflow.register_model` does in a user's script: nothing modelward sees."""
    client = tracking.client(session.workspace)
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    artifact = (session.workspace.root / "artifact").as_uri()
    return f"{name}@{client.create_model_version(name, artifact, None).version}"


def _discovered(session: Session) -> list[str]:
    with session.store.read() as conn:
        return [e.target for e in audit.entries(conn, action="model.version.discovered")]


def test_the_gateway_resolver_finds_a_plain_mlflow_version_without_a_sync(
    session: Session,
) -> None:
    ref = _plain_mlflow_version(session)
    resolved = RegistryModelResolver(session).resolve(ref)
    assert (resolved.name, resolved.version) == ("gbm", "1")
    assert _discovered(session) == ["model:gbm@1"]
    # a known model with an empty stage asks MLflow nothing and says so
    with pytest.raises(NotFound, match="has no version Production"):
        RegistryModelResolver(session).resolve("gbm@production")
    with pytest.raises(NotFound, match="'nope' is not registered"):
        registry.get_version(session, "nope@1")


def test_rest_lineage_approvals_and_policies_see_it_too(session: Session) -> None:
    boss = admin(session)
    ref = _plain_mlflow_version(session)
    _, secret = tokens.issue_token(session, boss, boss.name, "test")
    with TestClient(create_app(session), raise_server_exceptions=False) as http:
        auth = {"Authorization": f"Bearer {secret}"}
        got = http.get("/api/v1/models/gbm/versions/1", headers=auth)
        assert got.status_code == 200 and got.json()["source"] == "mlflow"
        ref2 = _plain_mlflow_version(session)
        listed = http.get("/api/v1/models/gbm/versions", headers=auth).json()
        assert [v["ref"] for v in listed] == [ref, ref2]
        _plain_mlflow_version(session, "other")
        assert {m["name"] for m in http.get("/api/v1/models", headers=auth).json()} == {
            "gbm",
            "other",
        }
    ref3 = _plain_mlflow_version(session)
    assert reports.lineage_report(session, ref3)["lineage_complete"] is False
    alice = principal(session, "alice", Role.APPROVER)
    assert approvals.approve(session, alice, _plain_mlflow_version(session), "Staging").version == 4
    _plain_mlflow_version(session, "fresh")
    assert lifecycle.set_gate_policy(session, boss, "fresh", "Staging", []) == {
        "Staging": [],
        "Production": [{"type": "lineage_complete"}],
    }
    moved = lifecycle.transition(session, boss, "fresh@1", "Staging", reason="no gates")
    assert moved.to_stage == "Staging"


def test_a_plain_mlflow_signature_feeds_the_forbidden_inputs_gate(session: Session) -> None:
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from modelward.errors import CheckFailed

    frame = pd.DataFrame({"age": [20.0, 30, 40, 50], "gender": [0.0, 1, 0, 1]})
    model = LogisticRegression().fit(frame, [0, 1, 0, 1])
    with tracking.using_workspace(session.workspace), mlflow.start_run():
        mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(frame), registered_model_name="credit"
        )
    version = registry.get_version(session, "credit@1")
    assert version.lineage["model_artifact"]["signature_inputs"] == ["age", "gender"]
    boss = admin(session)
    gate = {"type": "forbidden_inputs", "features": ["gender"]}
    lifecycle.set_gate_policy(session, boss, "credit", "Staging", [gate])
    with pytest.raises(CheckFailed, match=r"forbidden input\(s\) gender"):
        lifecycle.transition(session, boss, "credit@1", "Staging", reason="try")

"""The churn example served end to end: registry model, online features, tokens, the log.

Everything is real: the metadata store (SQLite and Postgres), MLflow's registry, the
SQLite online store filled by materialization, API tokens, and the SQLite prediction log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

from modelward.config import Workspace
from modelward.examples.churn import write_customers
from modelward.monitoring.predictions import open_prediction_sink
from modelward.security.roles import Principal, Role
from modelward.serving import create_endpoint, create_gateway, parse_spec, update_endpoint
from modelward.session import Session

# Third-party warnings raised while MLflow imports (see tests/unit/registry/support.py)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

FEATURES_PY = """
import pyarrow.compute as pc
from modelward.features import Entity, Feature, FeatureView, on_demand

customer = Entity("customer", ["customer_id"])
customer_stats = FeatureView(
    "customer_stats",
    entities=[customer],
    source="data/customers.parquet",
    timestamp="updated_at",
    features=[
        Feature("monthly_spend", "float64"),
        Feature("tenure_months", "int64"),
        Feature("support_tickets", "int64"),
    ],
    owner="growth",
)


@on_demand(
    inputs=[customer_stats],
    request=[Feature("discount", "float64")],
    outputs=[Feature("net_spend", "float64")],
)
def net_spend(table):
    return {"net_spend": pc.multiply(table["monthly_spend"], pc.subtract(1.0, table["discount"]))}
"""

FEATURE_REFS = [
    "customer_stats:monthly_spend",
    "customer_stats:tenure_months",
    "customer_stats:support_tickets",
]
COLUMNS = ["discount", "monthly_spend", "tenure_months", "support_tickets", "net_spend"]


@dataclass
class Churn:
    session: Session
    token: str
    model: Any


def training_matrix(session: Session, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The endpoint's model inputs for customers 1..rows (online features, a fixed
    discount per customer) and the label the churn model here is trained on."""
    from modelward import features

    ids = list(range(1, rows + 1))
    discount = np.random.default_rng(0).uniform(0, 0.3, size=rows).tolist()
    online = features.get_online_features(
        {"customer_id": ids},
        [*FEATURE_REFS, "net_spend"],
        request={"discount": discount},
        session=session,
    )
    x = np.array([online.columns[c] for c in COLUMNS], dtype=np.float64).T
    return x, (x[:, 2] < 12).astype(int)


def build_churn(session: Session, rows: int = 2_000, trees: int = 20) -> Churn:
    """Data, features (applied and materialized), a registered model, a token, an endpoint."""
    import mlflow
    from sklearn.ensemble import GradientBoostingClassifier

    from modelward import features
    from modelward.registry import tracking, versions
    from modelward.registry.serialization import trusted_types_for
    from modelward.security.tokens import bootstrap_admin

    root = session.workspace.root
    write_customers(root / "data" / "customers.parquet", rows=rows)
    (root / "features.py").write_text(FEATURES_PY, encoding="utf-8")
    features.apply(session)
    features.materialize(session=session)

    x, y = training_matrix(session, rows)
    model = GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=0).fit(x, y)
    with tracking.using_workspace(session.workspace), mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", skops_trusted_types=trusted_types_for(model)
        )
    versions.register(session, "churn", model_uri=info.model_uri)
    _, token = bootstrap_admin(session)
    create_endpoint(
        session,
        Principal(session.actor, Role.ADMIN),
        parse_spec(
            {
                "name": "churn",
                "model": "churn@1",
                "request": {"customer_id": "int", "email": "string", "discount": "float"},
                "entity_keys": ["customer_id"],
                "features": FEATURE_REFS,
                "transforms": ["net_spend"],
                "model_inputs": COLUMNS,
                "pii_fields": ["email"],
                "fallback": {"response": 0.0},
                "latency_budget_ms": 500,
            }
        ),
    )
    return Churn(session, token, model)


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


def expected(churn: Churn, customer_id: int, discount: float) -> float:
    from modelward import features

    online = features.get_online_features(
        {"customer_id": [customer_id]},
        [*FEATURE_REFS, "net_spend"],
        request={"discount": [discount]},
        session=churn.session,
    )
    x = np.array([[online.columns[c][0] for c in COLUMNS]], dtype=np.float64)
    return float(churn.model.predict_proba(x)[0, 1])


def test_churn_model_is_served_with_online_features_and_every_request_logged(
    session: Session, workspace: Workspace
) -> None:
    # built here, not in a fixture: the MLflow warning filters above cover only the call
    churn = build_churn(session)
    auth = {"Authorization": f"Bearer {churn.token}"}
    url = "/v1/endpoints/churn/predict"

    async def scenario() -> list[Any]:
        with Session(workspace) as serving_session:
            gateway = create_gateway(serving_session, access_log=False)
            await gateway.startup()
            transport = httpx.ASGITransport(app=gateway)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                one = await http.post(
                    url,
                    json={"inputs": {"customer_id": 7, "email": "a@example.com", "discount": 0.1}},
                    headers=auth,
                )
                batch = await http.post(
                    url,
                    json={
                        "inputs": [
                            {"customer_id": i, "email": "b@example.com", "discount": 0.0}
                            for i in (1, 2, 3)
                        ]
                    },
                    headers=auth,
                )
                unknown = await http.post(
                    url,
                    json={"inputs": {"customer_id": 10**9, "email": "c@x", "discount": 0.0}},
                    headers=auth,
                )
                # the endpoint changes in the database: picked up by the next refresh
                update_endpoint(
                    churn.session,
                    Principal(churn.session.actor, Role.ADMIN),
                    parse_spec(
                        {
                            **gateway.cache.runtimes["churn"].spec.model_dump(),
                            "latency_budget_ms": 250,
                        }
                    ),
                )
                await gateway.refresh()
                after = await http.post(
                    url,
                    json={"inputs": {"customer_id": 7, "email": "a@example.com", "discount": 0.1}},
                    headers=auth,
                )
                ready = await http.get("/readyz")
                config_version = gateway.cache.runtimes["churn"].config_version
            await gateway.shutdown()
            return [one, batch, unknown, after, ready, config_version]

    one, batch, unknown, after, ready, config_version = asyncio.run(scenario())
    assert one.status_code == 200, one.text
    assert one.json()["prediction"] == pytest.approx(expected(churn, 7, 0.1))
    assert one.json()["model"] == "churn" and one.json()["model_version"] == "1"
    assert batch.json()["predictions"] == pytest.approx(
        [expected(churn, i, 0.0) for i in (1, 2, 3)]
    )
    assert unknown.json()["degraded"] is True and unknown.json()["prediction"] == 0.0
    assert ready.status_code == 200, ready.text
    assert config_version == 2
    assert after.json()["prediction"] == one.json()["prediction"]

    sink = open_prediction_sink(workspace.settings.serving.prediction_log, workspace.root)
    logged = sink.read("churn")
    sink.close()
    assert len(logged) == 1 + 3 + 1 + 1
    first = logged[0]
    assert first.request_id == one.json()["request_id"]
    assert first.inputs["email"] == "[redacted]"
    assert first.inputs["tenure_months"] is not None and "net_spend" in first.inputs
    assert first.model_version == "1" and first.degraded is False

"""Serving the models people train: pipelines selecting columns by name, pyfunc models with
a DataFrame signature, the float-matrix fast path, `request: from_signature`, and PII.

Issue 16.2: the quickstart's own model (a scikit-learn Pipeline whose ColumnTransformer
selects columns by name) failed to load with "Specifying the columns using strings is only
supported for dataframes", and the default model inputs fed the PII field `email`.
"""

# No `from __future__ import annotations`: MLflow reads the pyfunc model's type hints.

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelward.config import Workspace
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.serving.endpoints import Fallback
from modelward.serving.models import MlflowModelLoader, ResolvedModel
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.serving.support import AUTH, GatewayFactory, World, run, serving, spec

pytestmark = MLFLOW_WARNINGS

COLUMNS = ["plan", "region", "tenure_months", "monthly_spend"]
URL = "/v1/endpoints/churn/predict"


def customers(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "plan": rng.choice(["basic", "pro", "enterprise"], n),
            "region": rng.choice(["na", "eu", "apac"], n),
            "tenure_months": rng.integers(1, 60, n),
            "monthly_spend": rng.uniform(10, 400, n),
        }
    )


def churn_pipeline() -> Any:
    """The quickstart's baseline: categorical columns one-hot encoded *by name*."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x = customers()
    y = ((x["tenure_months"] < 20) & (x["plan"] == "basic")).astype(int)
    encoder = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]), remainder=StandardScaler()
    )
    return make_pipeline(encoder, LogisticRegression(max_iter=500)).fit(x, y)


def rows() -> list[dict[str, Any]]:
    return [
        {"plan": "basic", "region": "eu", "tenure_months": 3, "monthly_spend": 20.0},
        {"plan": "enterprise", "region": "na", "tenure_months": 48, "monthly_spend": 390.5},
    ]


def with_email(row: dict[str, Any]) -> dict[str, Any]:
    return {"email": "someone@example.com", **row}


REQUEST = {"email": "string", "plan": "string", "region": "string"} | {
    "tenure_months": "int",
    "monthly_spend": "float",
}


class ColumnSpy:
    """A model fitted on a matrix (it names no inputs) that records what it was fed."""

    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.fed: list[Any] = []

    def predict_proba(self, x: Any) -> Any:
        self.fed.append(x)
        return np.tile([0.4, 0.6], (len(x), 1))


def test_a_pipeline_selecting_columns_by_name_is_fed_a_dataframe_without_the_pii_field(
    make_gateway: GatewayFactory, world: World, sink: MemoryPredictionSink
) -> None:
    model = churn_pipeline()
    world.model("churn@production", model, "2")
    world.put(spec(name="churn", model="churn@production", request=REQUEST, pii_fields=["email"]))

    async def scenario() -> Any:
        gateway = make_gateway()
        async with serving(gateway) as http:
            answer = await http.post(
                URL, json={"inputs": [with_email(r) for r in rows()]}, headers=AUTH
            )
            return answer, gateway.cache.runtimes["churn"]

    answer, runtime = run(scenario())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["degraded"] is False
    expected = model.predict_proba(pd.DataFrame(rows()))[:, 1]
    assert body["predictions"] == pytest.approx(expected.tolist())
    # chosen at load: the model names its inputs, so it gets exactly those, by name
    assert runtime.model.feed == "frame" and runtime.columns == COLUMNS
    assert {r.inputs["email"] for r in sink.read()} == {"[redacted]"}
    # the array fast path stays for a model fitted on a matrix (the fixture's "m")
    assert world.endpoints["m"].spec.model == "m@production"


def test_a_model_fitted_on_a_matrix_keeps_the_array_path_and_never_sees_pii(
    make_gateway: GatewayFactory, world: World
) -> None:
    spy = ColumnSpy()
    world.model("spy@production", spy)
    request = {"email": "string", "a": "float", "b": "float"}
    world.put(spec(name="spy", model="spy@production", request=request, pii_fields=["email"]))

    async def scenario() -> Any:
        gateway = make_gateway()
        async with serving(gateway) as http:
            row = {"email": "x@example.com", "a": 1.0, "b": 2.0}
            answer = await http.post(
                "/v1/endpoints/spy/predict", json={"inputs": row}, headers=AUTH
            )
            return answer, gateway.cache.runtimes["spy"]

    answer, runtime = run(scenario())
    assert answer.json()["degraded"] is False, answer.text
    assert runtime.model.feed == "array" and runtime.columns == ["a", "b"]
    assert isinstance(spy.fed[-1], np.ndarray) and spy.fed[-1].tolist() == [[1.0, 2.0]]


def test_a_pii_field_named_in_model_inputs_of_a_model_without_signature_is_refused(
    make_gateway: GatewayFactory, world: World
) -> None:
    world.model("spy@production", ColumnSpy())
    world.put(
        spec(
            name="spy",
            model="spy@production",
            request={"email": "string", "a": "float"},
            model_inputs=["email", "a"],
            pii_fields=["email"],
            fallback=Fallback(response=0.0),
        )
    )

    async def scenario() -> Any:
        async with serving(make_gateway()) as http:
            answer = await http.post(
                "/v1/endpoints/spy/predict",
                json={"inputs": {"email": "x@example.com", "a": 1.0}},
                headers=AUTH,
            )
            return answer, await http.get("/readyz")

    answer, ready = run(scenario())
    assert answer.json()["degraded"] is True  # served from its fallback, never the model
    assert "email is PII" in answer.json()["reason"]
    assert "email is PII" in ready.json()["problems"]["spy"]


def save_models(tmp_path: Path) -> dict[str, Path]:
    """A ColumnTransformer pipeline and a pyfunc model, each with a DataFrame signature,
    and a boosted model fitted on a matrix, with a tensor signature."""
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema
    from sklearn.ensemble import GradientBoostingClassifier

    from modelward.registry.serialization import trusted_types_for

    signature = ModelSignature(
        inputs=Schema(
            [
                ColSpec("string", "plan"),
                ColSpec("string", "region"),
                ColSpec("long", "tenure_months"),
                ColSpec("double", "monthly_spend"),
            ]
        )
    )
    pipeline = churn_pipeline()
    paths = {"pipeline": tmp_path / "pipeline", "pyfunc": tmp_path / "pyfunc"}
    mlflow.sklearn.save_model(
        pipeline,
        paths["pipeline"],
        signature=signature,
        skops_trusted_types=trusted_types_for(pipeline),
        pip_requirements=[],  # inferring them runs a subprocess: seconds per model
    )
    with warnings.catch_warnings():  # MLflow warns that an Any hint is not validated
        warnings.simplefilter("ignore")

        class Tenure(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            """Answers from named, typed columns: fails on a float matrix."""

            def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
                assert str(model_input["tenure_months"].dtype) == "int64"
                return model_input["tenure_months"] * 2 + (model_input["plan"] == "basic")

        mlflow.pyfunc.save_model(
            paths["pyfunc"], python_model=Tenure(), signature=signature, pip_requirements=[]
        )
    x = np.random.default_rng(0).normal(size=(100, 3))
    boosted = GradientBoostingClassifier(n_estimators=3).fit(x, (x[:, 0] > 0).astype(int))
    paths["matrix"] = tmp_path / "matrix"
    from mlflow.models import infer_signature

    mlflow.sklearn.save_model(
        boosted,
        paths["matrix"],
        signature=infer_signature(x),
        skops_trusted_types=trusted_types_for(boosted),
        pip_requirements=[],
    )
    return paths


def test_the_feed_is_chosen_from_flavor_and_signature_and_from_signature_makes_the_request(
    make_gateway: GatewayFactory, world: World, sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    paths = save_models(tmp_path)
    for name, path in paths.items():
        world.models[f"{name}@1"] = ResolvedModel(name, "1", str(path))
        world.put(spec(name=name, model=f"{name}@1", request="from_signature"))
    world.put(  # the matrix model's signature names nothing: from_signature cannot work
        spec(
            name="matrix",
            model="matrix@1",
            request="from_signature",
            fallback=Fallback(response=-1),
        )
    )
    world.endpoints.pop("m")

    async def scenario(session: Session) -> Any:
        gateway = make_gateway(loader=MlflowModelLoader(session))
        async with serving(gateway) as http:
            answers = {
                name: await http.post(
                    f"/v1/endpoints/{name}/predict", json={"inputs": rows()}, headers=AUTH
                )
                for name in ("pipeline", "pyfunc")
            }
            answers["missing"] = await http.post(
                "/v1/endpoints/pipeline/predict",
                json={"inputs": {"plan": "pro", "region": "eu", "tenure_months": 1.5}},
                headers=AUTH,
            )
            answers["matrix"] = await http.post(
                "/v1/endpoints/matrix/predict", json={"inputs": {"a": 1.0}}, headers=AUTH
            )
            return answers, dict(gateway.cache.runtimes)

    with Session(sqlite_workspace) as session, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's pyfunc loading warnings
        answers, runtimes = run(scenario(session))
    pipeline, pyfunc = runtimes["pipeline"], runtimes["pyfunc"]
    assert (pipeline.model.feed, pipeline.model.flavor) == ("frame", "sklearn")
    assert (pyfunc.model.feed, pyfunc.model.flavor) == ("frame", "pyfunc")
    assert pipeline.schema.fields == {
        "plan": "string",
        "region": "string",
        "tenure_months": "int",
        "monthly_spend": "float",
    }
    expected = churn_pipeline().predict_proba(pd.DataFrame(rows()))[:, 1]
    assert answers["pipeline"].json()["predictions"] == pytest.approx(expected.tolist())
    assert answers["pyfunc"].json()["predictions"] == [7, 96]
    # the schema came from the signature: a missing field and a float for a long, named
    refused = answers["missing"]
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {
        "inputs.tenure_months",
        "inputs.monthly_spend",
    }
    matrix = answers["matrix"].json()
    assert matrix["degraded"] is True and matrix["prediction"] == -1
    assert "no MLflow signature naming its inputs" in matrix["reason"]


def test_pii_marked_in_the_training_data_contract_is_neither_fed_nor_logged(
    make_gateway: GatewayFactory, world: World, sink: MemoryPredictionSink
) -> None:
    spy = ColumnSpy()
    world.models["spy@production"] = ResolvedModel(
        "spy", "1", "mem://spy", spy, pii=frozenset({"email"})
    )
    world.put(spec(name="spy", model="spy@production", request={"email": "string", "a": "float"}))

    async def scenario() -> Any:
        async with serving(make_gateway()) as http:
            row = {"email": "x@example.com", "a": 3.0}
            return await http.post("/v1/endpoints/spy/predict", json={"inputs": row}, headers=AUTH)

    assert run(scenario()).json()["degraded"] is False
    assert spy.fed[-1].tolist() == [[3.0]]
    assert sink.read()[0].inputs == {"email": "[redacted]", "a": 3.0}


def test_the_registry_resolver_reads_pii_from_the_contracts_of_the_training_snapshots(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelward.data import load_contract, snapshot
    from modelward.serving.models import RegistryModelResolver
    from tests.unit.registry.support import quick_version

    contract = tmp_path / "people.yaml"
    contract.write_text(
        "name: people\nversion: 1\ncolumns:\n"
        "  email: {type: string, pii: true}\n  a: {type: float}\n",
        encoding="utf-8",
    )
    data = tmp_path / "people.parquet"
    pq.write_table(pa.table({"email": ["x@example.com"] * 3, "a": [1.0, 2.0, 3.0]}), data)
    with Session(sqlite_workspace) as session:
        snap = snapshot(data, name="people", contract=load_contract(contract), session=session)
        version = quick_version(session, "spy", auc=0.8, train=snap)
        resolved = RegistryModelResolver(session).resolve(version.ref)
    assert resolved.pii == frozenset({"email"})


def test_from_signature_is_refused_at_create_for_a_version_without_a_signature(
    sqlite_workspace: Workspace,
) -> None:
    from modelward.errors import InputError
    from modelward.serving import create_endpoint, parse_spec
    from tests.unit.registry.support import admin, placeholder_version

    with Session(sqlite_workspace) as session:
        version = placeholder_version(session, "plain")
        with pytest.raises(InputError, match="request: from_signature, but plain@1") as refused:
            create_endpoint(
                session,
                admin(session),
                parse_spec({"name": "plain", "model": version.ref, "request": "from_signature"}),
            )
    assert refused.value.details["field"] == "request"


def test_the_dataframe_feed_types_every_column_by_the_signature() -> None:
    from modelward.serving.feeds import ModelInput, frame_input

    parsed = [{"a": 1, "b": 2.5, "s": "x", "n": 3}, {"a": 2, "b": 0.5, "s": "y", "n": 4}]
    numeric = frame_input([ModelInput("a", "double"), ModelInput("b", "double")])(parsed)
    mixed = frame_input(
        [ModelInput("s", "string"), ModelInput("n", "long"), ModelInput("b", "float")]
    )(parsed)
    assert list(numeric.columns) == ["a", "b"] and set(map(str, numeric.dtypes)) == {"float64"}
    assert numeric.to_numpy().tolist() == [[1.0, 2.5], [2.0, 0.5]]
    assert [str(t) for t in mixed.dtypes][1:] == ["int64", "float32"]
    assert mixed["s"].tolist() == ["x", "y"]  # object, or pandas' own string dtype


def test_from_signature_on_a_model_whose_names_carry_no_types_serves_the_fallback(
    make_gateway: GatewayFactory, world: World
) -> None:
    # fitted on a DataFrame, so it names its columns, but logged without a signature
    world.model("churn@production", churn_pipeline(), "2")
    world.put(
        spec(
            name="churn",
            model="churn@production",
            request="from_signature",
            fallback=Fallback(response=0.0),
        )
    )

    async def scenario() -> Any:
        async with serving(make_gateway()) as http:
            return await http.post(URL, json={"inputs": rows()[0]}, headers=AUTH)

    body = run(scenario()).json()
    assert body["degraded"] is True and body["prediction"] == 0.0
    assert "churn@2 has no MLflow signature naming its inputs" in body["reason"]

"""A model served from a worker process (``[serving] isolation``): the same answers as in
process, its failures answered by the gateway's fallback, the worker restarted.

The worker runs this test environment's interpreter, through an environment folder made
ready beforehand (what a built, cached one looks like), so no pip runs here; building a
real one with another scikit-learn is tests/e2e/test_isolated_models.py (slow).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression

from modelward.errors import ConfigError, ModelUnavailable
from modelward.serving.endpoints import Fallback
from modelward.serving.environments import (
    ENVIRONMENT_READY,
    build_environment,
    environment_lock,
    lock_hash,
)
from modelward.serving.model_process import ModelProcess, WorkerDown
from modelward.serving.models import MlflowModelLoader, ResolvedModel
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.serving.support import AUTH, GatewayFactory, World, run, serving, spec

pytestmark = [*MLFLOW_WARNINGS, pytest.mark.xdist_group("model-process")]

FEATURES = ["f0", "f1", "f2", "f3"]


def matrix_model() -> LogisticRegression:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 4))
    return LogisticRegression().fit(x, (x[:, 0] - x[:, 2] > 0).astype(int))


def write_mlflow_model(
    into: Path, model: Any, requirements: list[str], sklearn_version: str = sklearn.__version__
) -> Path:
    """An MLflow model folder as ``mlflow.sklearn.save_model`` writes it (MLmodel's
    documented fields for the sklearn flavour, the pickle, the pinned requirements)."""
    into.mkdir(parents=True)
    with (into / "model.pkl").open("wb") as f:
        cloudpickle.dump(model, f)
    (into / "MLmodel").write_text(
        "flavors:\n"
        "  python_function:\n"
        "    loader_module: mlflow.sklearn\n"
        "    model_path: model.pkl\n"
        "  sklearn:\n"
        "    pickled_model: model.pkl\n"
        "    serialization_format: cloudpickle\n"
        f"    sklearn_version: {sklearn_version}\n",
        encoding="utf-8",
    )
    (into / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    return into


def ready_environment(root: Path, model_dir: Path) -> Path:
    """The environment folder the model's lock names, ready, running this interpreter."""
    lock = environment_lock(model_dir)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    env = root / f"py{version}-{lock_hash(lock)[:16]}"
    (env / "bin").mkdir(parents=True)
    python = env / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    (env / ENVIRONMENT_READY).write_text(json.dumps({"lock": lock}), encoding="utf-8")
    return env


def rows(n: int = 5) -> list[dict[str, float]]:
    rng = np.random.default_rng(1)
    return [dict(zip(FEATURES, map(float, r), strict=True)) for r in rng.normal(size=(n, 4))]


def isolated_world(world: World, tmp_path: Path, model: Any, **kw: Any) -> MlflowModelLoader:
    folder = write_mlflow_model(
        tmp_path / "legacy", model, ["mlflow==3.1.0", f"scikit-learn=={sklearn.__version__}"]
    )
    ready_environment(tmp_path / "envs", folder)
    world.models["legacy@1"] = ResolvedModel("legacy", "1", str(folder))
    world.put(spec(name="legacy", model="legacy@1", **kw))
    return MlflowModelLoader(None, isolation={"legacy": "process"}, environments=tmp_path / "envs")


def test_the_lock_is_the_models_own_pins_without_mlflow(tmp_path: Path) -> None:
    folder = write_mlflow_model(
        tmp_path / "m",
        matrix_model(),
        ["mlflow==3.1.0", "scipy==1.14.1", "# a comment", "scikit-learn==1.5.2", "-e ."],
    )
    assert environment_lock(folder) == ["cloudpickle", "scikit-learn==1.5.2", "scipy==1.14.1"]
    assert lock_hash(["a==1"]) != lock_hash(["a==2"])
    (folder / "requirements.txt").unlink()
    with pytest.raises(ConfigError, match=r"no requirements\.txt") as refused:
        environment_lock(folder)
    assert refused.value.details["field"] == "isolation"


def test_a_ready_environment_is_reused_and_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    folder = write_mlflow_model(tmp_path / "m", matrix_model(), ["scikit-learn==1.5.2"])
    env = ready_environment(tmp_path / "envs", folder)
    assert build_environment(environment_lock(folder), tmp_path / "envs") == env / "bin" / "python"
    with pytest.raises(ConfigError, match="could not be installed"):
        build_environment([str(tmp_path / "no-such-project")], tmp_path / "envs")
    assert sorted(
        p.name for p in (tmp_path / "envs").iterdir() if not p.name.endswith(".lock")
    ) == [env.name]


def test_an_isolated_model_answers_as_the_model_does_in_process(
    make_gateway: GatewayFactory, world: World, tmp_path: Path
) -> None:
    model = matrix_model()
    loader = isolated_world(world, tmp_path, model)

    async def scenario() -> Any:
        gateway = make_gateway(loader=loader)
        async with serving(gateway) as http:
            answer = await http.post(
                "/v1/endpoints/legacy/predict", json={"inputs": rows()}, headers=AUTH
            )
            return answer, gateway.cache.runtimes["legacy"]

    answer, runtime = run(scenario())
    assert answer.status_code == 200, answer.text
    expected = model.predict_proba(pd.DataFrame(rows())[FEATURES].to_numpy())[:, 1]
    assert answer.json()["predictions"] == pytest.approx(expected.tolist(), abs=1e-12)
    worker = runtime.model.worker
    assert worker is not None and worker.pid not in (None, os.getpid())
    assert worker.hello["versions"]["scikit-learn"] == sklearn.__version__
    worker.close()


def test_a_dataframe_model_gets_its_named_typed_columns(tmp_path: Path) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    x = pd.DataFrame({"plan": ["basic", "pro", "basic", "pro"] * 10, "months": range(40)})
    y = (x["plan"] == "basic").astype(int)
    encode = make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough")
    model = make_pipeline(encode, LogisticRegression()).fit(x, y)
    folder = write_mlflow_model(tmp_path / "p", model, [])
    with (folder / "MLmodel").open("a", encoding="utf-8") as f:
        f.write(
            "signature:\n"
            '  inputs: \'[{"name": "plan", "type": "string"}, '
            '{"name": "months", "type": "long"}]\'\n'
        )
    ready_environment(tmp_path / "envs", folder)
    loader = MlflowModelLoader(None, isolation={"p": "process"}, environments=tmp_path / "envs")
    loaded = loader.load(ResolvedModel("p", "1", str(folder)), "auto", [])
    try:
        assert loaded.feed == "frame"
        given = [{"plan": "pro", "months": 3}, {"plan": "basic", "months": 30}]
        answer = loaded.predict(loaded.input_builder([])(given))
        assert answer == pytest.approx(model.predict_proba(pd.DataFrame(given))[:, 1].tolist())
        # a value the model refuses fails that call, and the worker goes on serving
        with pytest.raises(ValueError, match=r"could not convert|Cannot"):
            loaded.predict(pd.DataFrame({"plan": ["pro"], "months": ["x"]}))
        assert loaded.predict(loaded.input_builder([])(given)) == answer
    finally:
        loaded.worker.close()


def test_a_killed_worker_means_fallback_answers_until_it_is_restarted(
    make_gateway: GatewayFactory, world: World, tmp_path: Path
) -> None:
    loader = isolated_world(world, tmp_path, matrix_model(), fallback=Fallback(response=-1.0))

    async def scenario() -> Any:
        gateway = make_gateway(loader=loader)
        async with serving(gateway) as http:
            worker = gateway.cache.runtimes["legacy"].model.worker
            first = worker.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            body = {"inputs": rows(1)}
            degraded = await http.post("/v1/endpoints/legacy/predict", json=body, headers=AUTH)
            deadline = time.monotonic() + 60
            while True:  # poll: the worker comes back after its backoff
                answer = await http.post("/v1/endpoints/legacy/predict", json=body, headers=AUTH)
                if not answer.json().get("degraded") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)  # the poll's interval
            result = (degraded.json(), answer.json(), first, worker.pid, worker.restarts)
            worker.close()
            return result

    degraded, recovered, first, second, restarts = run(scenario())
    assert degraded["degraded"] is True and degraded["predictions"] == [-1.0]
    assert "worker process" in degraded["reason"]
    assert recovered.get("degraded") is not True and 0 < recovered["predictions"][0] < 1
    assert restarts == 1 and second != first


def test_a_model_the_worker_cannot_load_is_refused_with_its_reason(tmp_path: Path) -> None:
    folder = write_mlflow_model(tmp_path / "broken", matrix_model(), [])
    (folder / "model.pkl").write_bytes(b"not a pickle")
    env = ready_environment(tmp_path / "envs", folder)
    worker = ModelProcess(
        env / "bin" / "python", folder / "model.pkl", "cloudpickle", name="broken@1"
    )
    with pytest.raises(ModelUnavailable, match="broken@1: the worker could not load the model"):
        worker.start()
    with pytest.raises(WorkerDown, match="down"):
        worker.call("predict", np.zeros((1, 4)))

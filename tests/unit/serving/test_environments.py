"""Two models with conflicting scikit-learn versions, served side by side by one gateway.

A model pickled by scikit-learn 1.5.2 cannot be loaded cleanly by the gateway's own
scikit-learn (its pickle names a private module that is gone, or it warns); with ``isolation =
"process"`` it runs in a worker whose virtualenv is built from the model's pinned
requirements, while the other model runs in the gateway's process. Slow: the first build
installs scikit-learn 1.5.2, numpy and scipy with pip (minutes on a loaded machine).
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import sklearn
from sklearn.exceptions import InconsistentVersionWarning

from modelward.serving.environments import ENVIRONMENT_READY, build_environment, environment_lock
from modelward.serving.models import MlflowModelLoader, ResolvedModel
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.serving.support import AUTH, GatewayFactory, World, run, serving, spec
from tests.unit.serving.test_model_process import matrix_model, rows, write_mlflow_model

pytestmark = [*MLFLOW_WARNINGS, pytest.mark.slow, pytest.mark.xdist_group("model-envs")]

OLD = "1.5.2"
#: trains and pickles the legacy model inside its own environment, and writes what that
#: environment's scikit-learn itself predicts for the rows (the golden answers)
TRAIN = textwrap.dedent(
    """
    import json, sys
    import cloudpickle, numpy as np, sklearn
    from sklearn.ensemble import GradientBoostingClassifier

    folder, rows = sys.argv[1], json.loads(sys.argv[2])
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 4))
    model = GradientBoostingClassifier(n_estimators=20, random_state=0)
    model.fit(x, (x[:, 0] + x[:, 3] > 0).astype(int))
    with open(f"{folder}/model.pkl", "wb") as f:
        cloudpickle.dump(model, f)
    golden = model.predict_proba(np.array(rows, dtype=float))[:, 1].tolist()
    print(json.dumps({"sklearn": sklearn.__version__, "golden": golden}))
    """
)


def test_two_scikit_learn_versions_are_served_side_by_side(
    make_gateway: GatewayFactory, world: World, tmp_path: Path
) -> None:
    assert sklearn.__version__ != OLD, "the gateway's own scikit-learn must differ"
    legacy = write_mlflow_model(
        tmp_path / "legacy",
        None,
        [f"scikit-learn=={OLD}", f"cloudpickle=={importlib.metadata.version('cloudpickle')}"],
        sklearn_version=OLD,
    )
    envs = tmp_path / "envs"
    python = build_environment(environment_lock(legacy), envs)
    inputs = rows(6)
    trained = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            TRAIN,
            str(legacy),
            json.dumps([list(r.values()) for r in inputs]),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    made = json.loads(trained.stdout)
    assert made["sklearn"] == OLD
    # the same lock again: the environment is found, not built again
    ready = (python.parent.parent / ENVIRONMENT_READY).stat().st_mtime_ns
    assert build_environment(environment_lock(legacy), envs) == python
    assert (python.parent.parent / ENVIRONMENT_READY).stat().st_mtime_ns == ready

    # in the gateway's own interpreter the old pickle cannot be used: it names a private
    # module this scikit-learn no longer has, or at best warns (warnings are errors here)
    with (
        (legacy / "model.pkl").open("rb") as f,
        pytest.raises((ModuleNotFoundError, InconsistentVersionWarning)),
    ):
        cloudpickle.load(f)

    current_model = matrix_model()
    current = write_mlflow_model(
        tmp_path / "current", current_model, [f"scikit-learn=={sklearn.__version__}"]
    )
    world.models["legacy@1"] = ResolvedModel("legacy", "1", str(legacy))
    world.models["current@1"] = ResolvedModel("current", "1", str(current))
    world.put(spec(name="legacy", model="legacy@1"))
    world.put(spec(name="current", model="current@1"))
    loader = MlflowModelLoader(None, isolation={"legacy": "process"}, environments=envs)

    async def scenario() -> Any:
        gateway = make_gateway(loader=loader)
        async with serving(gateway) as http:
            answers = {
                name: (
                    await http.post(
                        f"/v1/endpoints/{name}/predict", json={"inputs": inputs}, headers=AUTH
                    )
                ).json()
                for name in ("legacy", "current")
            }
            runtimes = dict(gateway.cache.runtimes)
            runtimes["legacy"].model.worker.close()
            return answers, runtimes

    answers, runtimes = run(scenario())
    assert answers["legacy"]["predictions"] == pytest.approx(made["golden"], abs=1e-12)
    expected = current_model.predict_proba([list(r.values()) for r in inputs])[:, 1]
    assert answers["current"]["predictions"] == pytest.approx(expected.tolist(), abs=1e-12)
    assert runtimes["legacy"].model.worker.hello["versions"]["scikit-learn"] == OLD
    assert runtimes["current"].model.worker is None  # in the gateway's process

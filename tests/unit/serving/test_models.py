"""Model loading: native flavors called directly, pyfunc for the rest, warmed up at load."""

# No `from __future__ import annotations` here: MLflow reads the pyfunc test model's type
# hints at runtime and would warn about string annotations.

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelward.config import Workspace
from modelward.errors import InputError
from modelward.serving.models import MlflowModelLoader, ResolvedModel, load_object
from modelward.session import Session

pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:xgboost"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

COLUMNS = ["a", "b", "c"]


def data() -> tuple[Any, Any]:
    x = np.random.default_rng(0).normal(size=(300, 3))
    return x, (x[:, 0] > 0).astype(int)


@pytest.mark.slow  # logs and loads three MLflow models
def test_sklearn_and_xgboost_are_loaded_natively_and_pyfunc_is_the_general_path(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    import mlflow.pyfunc
    import mlflow.sklearn
    import mlflow.xgboost
    import pandas as pd
    import xgboost
    from sklearn.ensemble import GradientBoostingClassifier

    from modelward.registry.serialization import trusted_types_for

    x, y = data()
    gb = GradientBoostingClassifier(n_estimators=5).fit(x, y)
    mlflow.sklearn.save_model(gb, tmp_path / "gb", skops_trusted_types=trusted_types_for(gb))
    xgb = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(x, y)
    mlflow.xgboost.save_model(xgb, tmp_path / "xgb")

    with warnings.catch_warnings():  # MLflow warns that an Any hint is not validated
        warnings.simplefilter("ignore")

        class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
                return model_input["a"] * 2

        mlflow.pyfunc.save_model(tmp_path / "custom", python_model=Doubler())

    with Session(sqlite_workspace) as session:
        loader = MlflowModelLoader(session)
        native = loader.load(ResolvedModel("gb", "1", str(tmp_path / "gb")), "auto", COLUMNS)
        boosted = loader.load(ResolvedModel("xgb", "1", str(tmp_path / "xgb")), "auto", COLUMNS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            general = loader.load(
                ResolvedModel("custom", "1", str(tmp_path / "custom")), "auto", COLUMNS
            )
    assert (native.flavor, boosted.flavor, general.flavor) == ("sklearn", "xgboost", "pyfunc")
    assert native.predict(x[:4]) == gb.predict_proba(x[:4])[:, 1].tolist()
    assert boosted.predict(x[:4]) == pytest.approx(xgb.predict_proba(x[:4])[:, 1].tolist())
    # pyfunc takes a DataFrame of the endpoint's columns (this model has no signature)
    assert (native.feed, boosted.feed, general.feed) == ("array", "array", "frame")
    rows = [dict(zip(COLUMNS, r, strict=True)) for r in x[:2].tolist()]
    assert general.predict(general.input_builder(COLUMNS)(rows)) == (x[:2, 0] * 2).tolist()


def test_outputs_follow_the_endpoint_setting() -> None:
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression

    x, y = data()
    clf = LogisticRegression().fit(x, y)
    as_label = load_object(clf, name="c", version="1", uri="mem", output="predict", columns=COLUMNS)
    assert as_label.predict(x[:3]) == clf.predict(x[:3]).tolist()
    reg = GradientBoostingRegressor(n_estimators=5).fit(x, y)
    auto = load_object(reg, name="r", version="1", uri="mem", output="auto", columns=COLUMNS)
    assert auto.predict(x[:3]) == reg.predict(x[:3]).tolist()
    with pytest.raises(InputError, match="has no predict_proba"):
        load_object(reg, name="r", version="1", uri="mem", output="proba", columns=COLUMNS)

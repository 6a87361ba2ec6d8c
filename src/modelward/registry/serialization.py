"""Which pickled-free model internals modelward trusts when MLflow saves with skops.

MLflow 3 saves scikit-learn models with skops, which refuses to load any type it does not
trust by default, and MLflow checks that at save time. Tree ensembles and XGBoost's
scikit-learn wrapper carry such types. modelward trusts exactly the reviewed list below,
only for models the same process just trained (the save-time check), and never switches
to pickle. The list is recorded in the model's ``MLmodel`` by MLflow; modelward records
the registered artifact itself in the version's lineage.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["TRUSTED_INTERNALS", "trusted_types_for"]

#: skops types modelward trusts for models it logs: reviewed, narrow, no callables
TRUSTED_INTERNALS: frozenset[str] = frozenset(
    {
        # node storage of DecisionTree*, RandomForest*, ExtraTrees*, GradientBoosting*
        "sklearn.tree._tree.Tree",
        # a recalibrated version (CalibratedClassifierCV): the frozen model and its fitted
        # calibrator (isotonic or sigmoid), pairs of plain estimators
        "sklearn.calibration._CalibratedClassifier",
        # XGBoost's booster (restored from its own JSON/UBJ model format, not pickle)
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
    }
)


def trusted_types_for(model: Any) -> list[str]:
    """The types of ``model`` that skops does not trust but modelward does (sorted).

    Types outside :data:`TRUSTED_INTERNALS` are left out, so MLflow still refuses such a
    model with its own message naming them.
    """
    # skops ships no type information; reach it as an untyped module
    skops_io: Any = importlib.import_module("skops.io")
    untrusted = skops_io.get_untrusted_types(data=skops_io.dumps(model))
    return sorted(t for t in untrusted if t in TRUSTED_INTERNALS)

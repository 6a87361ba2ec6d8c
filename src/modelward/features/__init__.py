"""Features context: definitions once, point-in-time training sets, online serving.

Example::

    import modelward as mw
    ts = mw.features.training_set(spine, ["driver_stats:trips", "trips_per_km"])
    mw.features.materialize()
    mw.features.get_online_features({"driver_id": [1]}, ["driver_stats:trips"])
"""

from modelward.features.api import (
    apply,
    check_skew,
    compute_view_stats,
    get_online_features,
    list_views,
    materialize,
    online_store,
    plan,
    show,
    stats_history,
)
from modelward.features.catalog import Catalog, Selection, load_catalog
from modelward.features.definitions import (
    DType,
    Entity,
    Feature,
    FeatureView,
    OnDemandView,
    Rule,
    SnapshotSource,
    on_demand,
)
from modelward.features.lookup import FeatureLookup, OnlineResult
from modelward.features.materialization import MaterializationRun
from modelward.features.offline import TrainingSet, resolve_inputs, training_set
from modelward.features.online import OnlineStore, Record, open_online_store
from modelward.features.skew import SkewReport
from modelward.features.vectors import FeatureColumn, FeatureVectors, read_vectors
from modelward.features.versions import Change, Plan, note_model_version

__all__ = [
    "Catalog",
    "Change",
    "DType",
    "Entity",
    "Feature",
    "FeatureColumn",
    "FeatureLookup",
    "FeatureVectors",
    "FeatureView",
    "MaterializationRun",
    "OnDemandView",
    "OnlineResult",
    "OnlineStore",
    "Plan",
    "Record",
    "Rule",
    "Selection",
    "SkewReport",
    "SnapshotSource",
    "TrainingSet",
    "apply",
    "check_skew",
    "compute_view_stats",
    "get_online_features",
    "list_views",
    "load_catalog",
    "materialize",
    "note_model_version",
    "on_demand",
    "online_store",
    "open_online_store",
    "plan",
    "read_vectors",
    "resolve_inputs",
    "show",
    "stats_history",
    "training_set",
]

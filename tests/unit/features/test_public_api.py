"""The features context's public names: adding one is a decision, removing one breaks users."""

import modelward.features


def test_public_names_are_pinned() -> None:
    assert sorted(modelward.features.__all__) == sorted(
        [
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
    )
    for name in modelward.features.__all__:
        assert getattr(modelward.features, name) is not None


def test_importing_does_not_load_optional_backends() -> None:
    import subprocess
    import sys

    code = "import sys, modelward.features; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

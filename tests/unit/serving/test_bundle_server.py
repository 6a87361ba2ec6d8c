"""A gateway over one bundle: it answers with the pinned version for the one token, logs to
its state folder, and refuses at start a bundle it cannot serve, naming the setting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sklearn.ensemble import GradientBoostingClassifier

from modelward.errors import ConfigError, InputError
from modelward.serving.bundle_server import ENV_BUNDLE_TOKEN, bundle_gateway
from modelward.serving.bundles import MANIFEST, _manifest
from tests.unit.registry.support import MLFLOW_WARNINGS
from tests.unit.serving.support import FIELDS, row, run, serving

pytestmark = [*MLFLOW_WARNINGS, pytest.mark.filterwarnings("ignore::FutureWarning")]
TOKEN = "a-bundle-token-of-32-characters!"


def bundle(root: Path, classifier: Any = None, **spec: Any) -> Path:
    """A bundle folder as ``modelward endpoints package`` writes it (the model saved by
    MLflow when given), with its manifest."""
    root.mkdir(parents=True)
    if classifier is not None:
        import mlflow.sklearn

        from modelward.registry.serialization import trusted_types_for

        mlflow.sklearn.save_model(
            classifier,
            root / "model",
            skops_trusted_types=trusted_types_for(classifier),
            pip_requirements=[],  # inferring them runs a subprocess: seconds per model
        )
    described = {"name": "churn", "model": "churn@production", "request": FIELDS, **spec}
    (root / "endpoint.json").write_text(
        json.dumps({"format": 1, "spec": described, "model": "churn@4"})
    )
    bundle_id, files = _manifest(root)
    manifest = {"id": bundle_id, "endpoint": "churn", "version": "churn@4", "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest))
    return root


def test_the_bundle_answers_with_its_pinned_version_for_its_token_only(
    tmp_path: Path, classifier: GradientBoostingClassifier
) -> None:
    gateway = bundle_gateway(
        bundle(tmp_path / "b", classifier), token=TOKEN, state=tmp_path / "state"
    )

    async def scenario() -> tuple[Any, int, int]:
        async with serving(gateway) as client:
            url = "/v1/endpoints/churn/predict"
            ok = await client.post(
                url, json={"inputs": row()}, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            wrong = await client.post(
                url, json={"inputs": row()}, headers={"Authorization": "Bearer not-the-token"}
            )
            none = await client.post(url, json={"inputs": row()})
            return ok, wrong.status_code, none.status_code

    ok, wrong, none = run(scenario())
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["model"], body["model_version"]) == ("churn", "4")
    assert 0.0 <= body["prediction"] <= 1.0 and not body["degraded"]
    assert (wrong, none) == (401, 401)
    assert any((tmp_path / "state").iterdir())  # the prediction log lives in the state folder


def test_a_short_token_is_refused_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 16 characters") as refused:
        bundle_gateway(bundle(tmp_path / "b"), token="short", state=tmp_path / "state")
    assert refused.value.details["field"] == ENV_BUNDLE_TOKEN
    assert not (tmp_path / "state").exists()  # refused before anything is written


def test_an_endpoint_reading_online_features_is_refused_at_start(tmp_path: Path) -> None:
    root = bundle(
        tmp_path / "b",
        request={**FIELDS, "customer_id": "int"},
        entity_keys=["customer_id"],
        features=["customer_stats"],
    )
    with pytest.raises(ConfigError, match="reads online features; serve it from a workspace"):
        bundle_gateway(root, token=TOKEN, state=tmp_path / "state")


def test_a_bundle_changed_after_packaging_is_not_served(tmp_path: Path) -> None:
    root = bundle(tmp_path / "b")
    (root / "endpoint.json").write_text(json.dumps({"spec": {}}))
    with pytest.raises(InputError, match=r"files differ from the manifest \(endpoint.json\)"):
        bundle_gateway(root, token=TOKEN, state=tmp_path / "state")

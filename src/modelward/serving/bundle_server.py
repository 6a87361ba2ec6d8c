"""A gateway over one deployable bundle: no metadata database, no tracking store.

``modelward endpoints serve-bundle DIR`` runs it: the endpoint from ``endpoint.json``,
the model from ``model/`` (its version pinned at packaging), callers checked against one
token from ``$MODELWARD_BUNDLE_TOKEN`` (compared in constant time, never logged),
predictions logged to the ``state`` folder's SQLite log. With ``--isolated`` the model
runs in a worker process from a virtualenv of the bundle's ``model/requirements.txt``
(built once under ``state/environments``; :mod:`~modelward.serving.model_process`). An
endpoint reading online
features is served with the online store of ``MODELWARD_WORKSPACE``'s configuration, or
refused at start with the reason.
"""

from __future__ import annotations

import hmac
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from modelward.errors import ConfigError, Unauthenticated
from modelward.monitoring import PredictionLogWriter, QuarantineFile, open_prediction_sink
from modelward.security import Principal, Role
from modelward.serving.auth import TokenVerifier
from modelward.serving.bundles import read_bundle
from modelward.serving.config_cache import EndpointCache, Sources
from modelward.serving.endpoints import Endpoint, EndpointSpec
from modelward.serving.gateway import Gateway
from modelward.serving.metrics import GatewayMetrics
from modelward.serving.models import MlflowModelLoader, ResolvedModel, StaticModelResolver

if TYPE_CHECKING:
    from modelward.config import ServingSettings

__all__ = ["ENV_BUNDLE_TOKEN", "bundle_app_from_environment", "bundle_gateway"]

#: the one token a bundle's gateway accepts (a caller named ``bundle-caller``)
ENV_BUNDLE_TOKEN = "MODELWARD_BUNDLE_TOKEN"  # noqa: S105 - a variable name
#: the bundle folder and the state folder, for uvicorn's factory in each worker
ENV_BUNDLE_DIR = "MODELWARD_BUNDLE_DIR"
ENV_BUNDLE_STATE = "MODELWARD_BUNDLE_STATE"
#: "1": the model runs in a worker process of its own environment
ENV_BUNDLE_ISOLATED = "MODELWARD_BUNDLE_ISOLATED"


def bundle_gateway(
    directory: Path,
    *,
    token: str,
    state: Path,
    settings: ServingSettings | None = None,
    isolated: bool = False,
) -> Gateway:
    """A gateway serving the bundle in ``directory``, checked against its manifest."""
    from modelward.config import ServingSettings

    bundle = read_bundle(directory)
    described = json.loads((directory / "endpoint.json").read_text(encoding="utf-8"))
    spec = EndpointSpec.model_validate(described["spec"])
    if spec.features or spec.transforms:
        raise ConfigError(
            f"bundle {bundle.id[:19]}...: endpoint {spec.name} reads online features; serve it "
            "from a workspace with its online store (modelward serve)",
            field="features",
        )
    if len(token) < 16:
        raise ConfigError(f"{ENV_BUNDLE_TOKEN}: at least 16 characters", field=ENV_BUNDLE_TOKEN)
    name, _, version = bundle.version.partition("@")
    pinned = ResolvedModel(name, version, str(directory / "model"))
    at = datetime.now(UTC)
    endpoint = Endpoint(spec, 1, "bundle", at, "bundle", at)
    caller = Principal("bundle-caller", Role.VIEWER, kind="service")
    expected = token.encode()

    def authenticate(given: str) -> Principal:
        if hmac.compare_digest(given.encode(), expected):
            return caller
        raise Unauthenticated("invalid API token")

    state.mkdir(parents=True, exist_ok=True)
    serving = settings or ServingSettings()
    metrics = GatewayMetrics()
    sources = Sources(
        load_endpoints=lambda: [endpoint],
        resolver=StaticModelResolver({spec.model: pinned, bundle.version: pinned}),
        loader=MlflowModelLoader(
            None,
            isolation={name: "process"} if isolated else {},
            environments=state / "environments",
        ),
    )
    writer = PredictionLogWriter(
        open_prediction_sink({"type": "sqlite"}, state),
        capacity=serving.prediction_log_capacity,
        batch_size=serving.prediction_log_batch,
        quarantine=QuarantineFile(state / "quarantine.jsonl"),
    )
    return Gateway(
        serving,
        EndpointCache(sources, metrics),
        TokenVerifier(authenticate, serving.token_cache_s, grace_s=0),
        writer,
        metrics,
    )


def bundle_app_from_environment() -> Gateway:
    """The uvicorn factory for ``serve-bundle`` (each worker builds its own gateway)."""
    return bundle_gateway(
        Path(os.environ[ENV_BUNDLE_DIR]),
        token=os.environ.get(ENV_BUNDLE_TOKEN, ""),
        state=Path(os.environ[ENV_BUNDLE_STATE]),
        isolated=os.environ.get(ENV_BUNDLE_ISOLATED) == "1",
    )

"""Assembling a gateway for a workspace: the wiring ``modelward serve`` uses.

Everything the gateway reads from other contexts is connected here and only here: the
endpoint rows (serving's own table), release plans (rollout), model resolution (the
registry), model files (MLflow), token checks (security), online features (features) and
the prediction log sink (monitoring). Tests wire a
:class:`~modelward.serving.gateway.Gateway` with fakes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from modelward.errors import ConfigError
from modelward.monitoring import (
    PredictionLogWriter,
    QuarantineFile,
    open_prediction_sink,
    quarantine_path,
)
from modelward.serving.accesslog import AccessLog
from modelward.serving.auth import TokenVerifier
from modelward.serving.config_cache import EndpointCache, Sources
from modelward.serving.endpoints import BrokenEndpoint, Endpoint, load_endpoints
from modelward.serving.gateway import Gateway, Service
from modelward.serving.jobs.routes import JobRoutes
from modelward.serving.metrics import GatewayMetrics
from modelward.serving.mlflow_scoring import MlflowRoutes
from modelward.serving.models import MlflowModelLoader, RegistryModelResolver
from modelward.serving.oip_rest import OipRoutes

if TYPE_CHECKING:
    from modelward.features import FeatureLookup
    from modelward.rollout import EndpointPlan
    from modelward.security import Principal
    from modelward.session import Session

__all__ = [
    "ENV_ENDPOINTS",
    "app_from_environment",
    "candidate_failure_reporter",
    "create_gateway",
    "grpc_inference",
]

#: comma-separated endpoint names a ``serve`` process is limited to (empty: all)
ENV_ENDPOINTS = "MODELWARD_SERVE_ENDPOINTS"


def candidate_failure_reporter(session: Session) -> Callable[[str, str, str], None]:
    """What the gateway calls when a release's candidate cannot be loaded: the release
    ends ``failed`` (rollout's ``fail``, audited as ``release.fail`` with the error)."""

    def report(endpoint: str, release_id: str, error: str) -> None:
        from modelward.errors import Conflict
        from modelward.rollout import fail
        from modelward.security import Principal, Role

        gateway = Principal(f"gateway:{socket.gethostname()}", Role.OPERATOR, kind="service")
        # a conflict: another worker reported it first, or an operator ended the release
        with contextlib.suppress(Conflict):
            fail(session, gateway, endpoint, release_id=release_id, error=error)

    return report


def create_gateway(
    session: Session,
    *,
    only: frozenset[str] | None = None,
    access_log: bool | None = None,
    latency_budget_floor_ms: float | None = None,
) -> Gateway:
    """A gateway over the workspace of ``session`` (which it closes at shutdown).

    ``latency_budget_floor_ms`` raises every endpoint's latency budget to at least that
    much in this gateway only, for a command that asks its model to show the answer rather
    than to serve it on time (the quickstart): on a busy machine the endpoint's own 100 ms
    would turn the answer into its fallback and change the story the command tells.
    ``modelward serve`` never sets it."""
    settings = session.workspace.settings.serving
    root = session.workspace.root
    lookup_holder: list[FeatureLookup] = []

    def endpoints() -> list[Endpoint | BrokenEndpoint]:
        with session.store.read() as conn:
            found = load_endpoints(conn)
        if latency_budget_floor_ms is None:
            return found
        return [_with_budget_floor(e, latency_budget_floor_ms) for e in found]

    def plans() -> Mapping[str, EndpointPlan]:
        from modelward.rollout import current_plans

        return current_plans(session)

    def lookup() -> FeatureLookup:
        from modelward.features import FeatureLookup, load_catalog, online_store

        if not lookup_holder:
            lookup_holder.append(FeatureLookup(online_store(session), load_catalog(session)))
        return lookup_holder[0]

    def probe() -> None:
        if lookup_holder:
            lookup_holder[0].store.read("modelward_readyz", ["probe"])

    def authenticate(token: str) -> Principal:
        from modelward.security import authenticate as check

        with session.store.read() as conn:
            return check(conn, token)

    def close() -> None:
        for found in lookup_holder:
            found.store.close()
        session.close()

    metrics = GatewayMetrics()
    sources = Sources(
        load_endpoints=endpoints,
        resolver=RegistryModelResolver(session),
        loader=MlflowModelLoader(session),
        lookup=lookup,
        load_plans=plans,
        candidate_failed=candidate_failure_reporter(session),
    )
    writer = PredictionLogWriter(
        open_prediction_sink(settings.prediction_log, root),
        capacity=settings.prediction_log_capacity,
        batch_size=settings.prediction_log_batch,
        quarantine=QuarantineFile(quarantine_path(root)),
    )
    use_log = settings.access_log if access_log is None else access_log
    gateway = Gateway(
        settings,
        EndpointCache(sources, metrics, only),
        TokenVerifier(authenticate, settings.token_cache_s, grace_s=settings.token_grace_s),
        writer,
        metrics,
        access_log=AccessLog() if use_log else None,
        on_close=close,
        feature_probe=probe,
    )
    gateway.mount(JobRoutes.for_workspace(gateway, session))  # POST/GET .../jobs (async)
    gateway.mount(OipRoutes())
    gateway.mount(MlflowRoutes(settings.default_endpoint))
    if settings.grpc_port:
        gateway.attach(grpc_inference(gateway))
    usage_s = session.workspace.settings.monitoring.usage_interval_s
    if usage_s:
        from modelward.monitoring import UsageReporter

        # CPU and memory of this worker for the monitor runs (a thread, off the request path)
        gateway.attach(UsageReporter(session.store, lambda: writer.written, interval_s=usage_s))
    return gateway


def grpc_inference(gateway: Gateway) -> Service:
    """The gateway's gRPC port (``serving.grpc_port``), served while the gateway runs."""
    try:
        from modelward.serving.oip_grpc import GrpcInference
    except ImportError as exc:
        raise ConfigError(
            f"serving.grpc_port is set but gRPC cannot be loaded ({exc}); "
            "install modelward[grpc] or set serving.grpc_port = 0",
            field="serving.grpc_port",
        ) from None
    settings = gateway.settings
    return GrpcInference(
        gateway,
        settings.host,
        settings.grpc_port,
        settings.max_body_bytes,
    )


def app_from_environment() -> Gateway:
    """The uvicorn factory (``--factory``): each worker process builds its own gateway."""
    from modelward.session import open_session

    names = {n.strip() for n in os.environ.get(ENV_ENDPOINTS, "").split(",") if n.strip()}
    return create_gateway(open_session(), only=frozenset(names) if names else None)


def _with_budget_floor(
    endpoint: Endpoint | BrokenEndpoint, floor_ms: float
) -> Endpoint | BrokenEndpoint:
    if isinstance(endpoint, BrokenEndpoint) or endpoint.spec.latency_budget_ms >= floor_ms:
        return endpoint
    spec = endpoint.spec.model_copy(update={"latency_budget_ms": floor_ms})
    return dataclasses.replace(endpoint, spec=spec)

"""``/api/v1/metrics``: the monitor runs' findings as Prometheus gauges (text format).

Per endpoint, version and feature: drift effect, significant drift, null rate; per
version: rows, error and degraded rates, p95 latency, realised AUC, ECE, label coverage;
per endpoint: the gateway workers' CPU and memory and the cost per 1,000 predictions;
per alert: firing or not. Scrape it with a viewer's token::

    scrape_configs:
      - job_name: modelward-monitoring
        metrics_path: /api/v1/metrics
        authorization: {credentials_file: /etc/prometheus/modelward.token}
        static_configs: [{targets: ["modelward:8600"]}]
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from modelward.api.deps import CurrentSession, known_query_only, requires
from modelward.security import Permission, Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/metrics", tags=["monitoring"], dependencies=[Depends(known_query_only)]
)

Reader = Annotated[Principal, Depends(requires(Permission.ENDPOINTS_READ))]
_TEXT = "text/plain; version=0.0.4; charset=utf-8"


# a Prometheus scrape target in its text format, not an API operation a client calls:
# it stays out of the OpenAPI document (and so out of the typed client), like the
# gateway's own /metrics is served beside its document; docs/monitoring.md describes it
@router.get("", response_class=Response, include_in_schema=False)
def get_metrics(request: Request, session: CurrentSession, who: Reader) -> Response:
    """The latest monitor run of each endpoint as gauges (read at most every 15 s)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from modelward.monitoring import MonitoringCollector

    registry = getattr(request.app.state, "monitoring_registry", None)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(MonitoringCollector(session))
        request.app.state.monitoring_registry = registry
    return Response(generate_latest(registry), media_type=_TEXT)

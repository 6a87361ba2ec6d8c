"""Prometheus metrics of the gateway, with label children bound once per endpoint.

With several workers (``serve --workers N``) prometheus-client's multiprocess mode is on
(``PROMETHEUS_MULTIPROC_DIR`` is set by ``serve`` before the workers start), so
``/metrics`` on any worker reports the sum over all of them.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "EndpointMetrics", "GatewayMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.5)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class EndpointMetrics:
    """Label children of one endpoint and model version, bound once (no per-request lookup)."""

    def __init__(self, metrics: GatewayMetrics, endpoint: str, version: str) -> None:
        self.ok = metrics.requests.labels(endpoint, version, "200")
        self.latency = metrics.latency.labels(endpoint, version)
        self.features = metrics.feature_latency.labels(endpoint, version)
        self.model = metrics.model_latency.labels(endpoint, version)
        self.batch = metrics.batch_size.labels(endpoint, version)
        self._metrics = metrics
        self.endpoint = endpoint
        self.version = version

    def status(self, code: int) -> None:
        if code == 200:
            self.ok.inc()
        else:
            self._metrics.requests.labels(self.endpoint, self.version, str(code)).inc()


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ev = ["endpoint", "model_version"]
        self.requests = Counter(
            "modelward_gateway_requests",
            "Requests answered, by status.",
            [*ev, "status"],
            registry=r,
        )
        self.latency = Histogram(
            "modelward_gateway_request_seconds",
            "Request latency, end to end.",
            ev,
            buckets=_LATENCY,
            registry=r,
        )
        self.feature_latency = Histogram(
            "modelward_gateway_feature_fetch_seconds",
            "Online feature fetch per batch.",
            ev,
            buckets=_LATENCY,
            registry=r,
        )
        self.model_latency = Histogram(
            "modelward_gateway_model_seconds",
            "Model call per batch.",
            ev,
            buckets=_LATENCY,
            registry=r,
        )
        self.batch_size = Histogram(
            "modelward_gateway_batch_rows",
            "Rows scored per model call.",
            ev,
            buckets=_BATCH,
            registry=r,
        )
        self.errors = Counter(
            "modelward_gateway_errors",
            "Requests that failed, by error class.",
            ["endpoint", "error"],
            registry=r,
        )
        self.fallbacks = Counter(
            "modelward_gateway_fallbacks",
            "Answers given by the fallback, by reason.",
            ["endpoint", "reason"],
            registry=r,
        )
        self.in_flight = Gauge(
            "modelward_gateway_in_flight",
            "Requests being handled now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.breaker = Gauge(
            "modelward_gateway_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ["endpoint", "dependency"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.log_depth = Gauge(
            "modelward_prediction_log_queue_depth",
            "Prediction log records not yet written.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.log_dropped = Counter(
            "modelward_prediction_log_dropped",
            "Prediction log records dropped (queue full).",
            registry=r,
        )
        self.log_written = Counter(
            "modelward_prediction_log_written", "Prediction log records written.", registry=r
        )
        self.log_quarantined = Counter(
            "modelward_prediction_log_quarantined",
            "Prediction log records the sink could not serialise, set aside so the rest is "
            "written (kept in the quarantine file).",
            registry=r,
        )
        self.log_write_errors = Counter(
            "modelward_prediction_log_write_errors",
            "Failed prediction log writes (each retried: the sink was unreachable), or split "
            "to set a bad record aside.",
            registry=r,
        )
        self.reloads = Counter(
            "modelward_gateway_reloads",
            "Endpoint runtimes (re)loaded without a restart.",
            ["endpoint"],
            registry=r,
        )
        self.reload_errors = Counter(
            "modelward_gateway_reload_errors",
            "Failed endpoint refreshes (the last good runtime keeps serving).",
            ["endpoint"],
            registry=r,
        )
        self._seen_dropped = 0
        self._seen_written = 0
        self._seen_quarantined = 0
        self._seen_write_errors = 0

    def bind(self, endpoint: str, version: str) -> EndpointMetrics:
        return EndpointMetrics(self, endpoint, version)

    def sync_log(
        self, depth: int, dropped: int, written: int, quarantined: int = 0, write_errors: int = 0
    ) -> None:
        """Mirror the writer's counters (read from its thread-safe attributes)."""
        if write_errors > self._seen_write_errors:
            self.log_write_errors.inc(write_errors - self._seen_write_errors)
            self._seen_write_errors = write_errors
        if quarantined > self._seen_quarantined:
            self.log_quarantined.inc(quarantined - self._seen_quarantined)
            self._seen_quarantined = quarantined
        self.log_depth.set(depth)
        if dropped > self._seen_dropped:
            self.log_dropped.inc(dropped - self._seen_dropped)
            self._seen_dropped = dropped
        if written > self._seen_written:
            self.log_written.inc(written - self._seen_written)
            self._seen_written = written

    def render(self) -> bytes:
        if _multiprocess():
            from prometheus_client import multiprocess

            registry: Any = CollectorRegistry()
            collector: Any = multiprocess.MultiProcessCollector  # untyped constructor
            collector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

"""Serving context: endpoint definitions, the online inference gateway, batch, asynchronous
and streaming scoring, and the feature server (online features over HTTP).

This module is the context's public surface; other contexts, the CLI and the REST API
import only from here. Importing it loads neither the gateway's dependencies nor any
model library; the names below are resolved on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports

if TYPE_CHECKING:
    from modelward.serving.app import ENV_ENDPOINTS, create_gateway
    from modelward.serving.batch import BatchResult, batch_score
    from modelward.serving.bundle_server import ENV_BUNDLE_TOKEN, bundle_gateway
    from modelward.serving.bundles import Bundle, package_endpoint, read_bundle
    from modelward.serving.endpoints import (
        BrokenEndpoint,
        Endpoint,
        EndpointSpec,
        Fallback,
        check_model_refs,
        create_endpoint,
        delete_endpoint,
        get_endpoint,
        list_endpoints,
        parse_spec,
        update_endpoint,
    )
    from modelward.serving.feature_server import (
        create_feature_server,
        feature_server_for,
        feature_server_from_environment,
    )
    from modelward.serving.gateway import Gateway
    from modelward.serving.http_problems import install_problem_handlers, problem_response_for
    from modelward.serving.jobs.base import Job, JobQueue, open_job_queue
    from modelward.serving.jobs.worker import JobWorker, WorkerStats
    from modelward.serving.releases import (
        advance_release,
        golden_rows_of,
        start_release,
        switch,
    )
    from modelward.serving.streaming.wiring import StreamResult, stream_score
    from modelward.serving.wire import ENV_HEADER_TIMEOUT, HeaderDeadlineProtocol
    from modelward.serving.workers import create_worker

__all__ = [
    "ENV_BUNDLE_TOKEN",
    "ENV_ENDPOINTS",
    "ENV_HEADER_TIMEOUT",
    "BatchResult",
    "BrokenEndpoint",
    "Bundle",
    "Endpoint",
    "EndpointSpec",
    "Fallback",
    "Gateway",
    "HeaderDeadlineProtocol",
    "Job",
    "JobQueue",
    "JobWorker",
    "StreamResult",
    "WorkerStats",
    "advance_release",
    "batch_score",
    "bundle_gateway",
    "check_model_refs",
    "create_endpoint",
    "create_feature_server",
    "create_gateway",
    "create_worker",
    "delete_endpoint",
    "feature_server_for",
    "feature_server_from_environment",
    "get_endpoint",
    "golden_rows_of",
    "install_problem_handlers",
    "list_endpoints",
    "open_job_queue",
    "package_endpoint",
    "parse_spec",
    "problem_response_for",
    "read_bundle",
    "start_release",
    "stream_score",
    "switch",
    "update_endpoint",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ENV_ENDPOINTS": "app",
        "create_gateway": "app",
        "BatchResult": "batch",
        "batch_score": "batch",
        "ENV_BUNDLE_TOKEN": "bundle_server",
        "bundle_gateway": "bundle_server",
        "Bundle": "bundles",
        "package_endpoint": "bundles",
        "read_bundle": "bundles",
        "BrokenEndpoint": "endpoints",
        "Endpoint": "endpoints",
        "EndpointSpec": "endpoints",
        "Fallback": "endpoints",
        "check_model_refs": "endpoints",
        "create_endpoint": "endpoints",
        "delete_endpoint": "endpoints",
        "get_endpoint": "endpoints",
        "list_endpoints": "endpoints",
        "parse_spec": "endpoints",
        "update_endpoint": "endpoints",
        "create_feature_server": "feature_server",
        "feature_server_for": "feature_server",
        "feature_server_from_environment": "feature_server",
        "Gateway": "gateway",
        "install_problem_handlers": "http_problems",
        "problem_response_for": "http_problems",
        "Job": "jobs.base",
        "JobQueue": "jobs.base",
        "open_job_queue": "jobs.base",
        "JobWorker": "jobs.worker",
        "WorkerStats": "jobs.worker",
        "create_worker": "workers",
        "start_release": "releases",
        "StreamResult": "streaming.wiring",
        "stream_score": "streaming.wiring",
        "switch": "releases",
        "advance_release": "releases",
        "golden_rows_of": "releases",
        "ENV_HEADER_TIMEOUT": "wire",
        "HeaderDeadlineProtocol": "wire",
    },
)

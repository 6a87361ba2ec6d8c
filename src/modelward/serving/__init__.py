"""Serving context: endpoint definitions, the online inference gateway, batch scoring.

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
    from modelward.serving.gateway import Gateway
    from modelward.serving.releases import start_release
    from modelward.serving.wire import ENV_HEADER_TIMEOUT, HeaderDeadlineProtocol

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
    "batch_score",
    "bundle_gateway",
    "check_model_refs",
    "create_endpoint",
    "create_gateway",
    "delete_endpoint",
    "get_endpoint",
    "list_endpoints",
    "package_endpoint",
    "parse_spec",
    "read_bundle",
    "start_release",
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
        "Gateway": "gateway",
        "start_release": "releases",
        "ENV_HEADER_TIMEOUT": "wire",
        "HeaderDeadlineProtocol": "wire",
    },
)

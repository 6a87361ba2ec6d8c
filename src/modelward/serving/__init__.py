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
    from modelward.serving.releases import (
        advance_release,
        golden_rows_of,
        start_release,
        switch,
    )
    from modelward.serving.wire import ENV_HEADER_TIMEOUT, HeaderDeadlineProtocol

__all__ = [
    "ENV_ENDPOINTS",
    "ENV_HEADER_TIMEOUT",
    "BatchResult",
    "BrokenEndpoint",
    "Endpoint",
    "EndpointSpec",
    "Fallback",
    "Gateway",
    "HeaderDeadlineProtocol",
    "advance_release",
    "batch_score",
    "check_model_refs",
    "create_endpoint",
    "create_gateway",
    "delete_endpoint",
    "get_endpoint",
    "golden_rows_of",
    "list_endpoints",
    "parse_spec",
    "start_release",
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
        "switch": "releases",
        "advance_release": "releases",
        "golden_rows_of": "releases",
        "ENV_HEADER_TIMEOUT": "wire",
        "HeaderDeadlineProtocol": "wire",
    },
)

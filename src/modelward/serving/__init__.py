"""Serving context: endpoint definitions and the online inference gateway.

Importing this package loads neither the gateway's dependencies nor any model library;
the names below are resolved on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Endpoint",
    "EndpointSpec",
    "Fallback",
    "Gateway",
    "create_endpoint",
    "create_gateway",
    "get_endpoint",
    "list_endpoints",
    "parse_spec",
    "update_endpoint",
]

_LAZY = {
    "Endpoint": "modelward.serving.endpoints",
    "EndpointSpec": "modelward.serving.endpoints",
    "Fallback": "modelward.serving.endpoints",
    "create_endpoint": "modelward.serving.endpoints",
    "get_endpoint": "modelward.serving.endpoints",
    "list_endpoints": "modelward.serving.endpoints",
    "parse_spec": "modelward.serving.endpoints",
    "update_endpoint": "modelward.serving.endpoints",
    "Gateway": "modelward.serving.gateway",
    "create_gateway": "modelward.serving.app",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'modelward.serving' has no attribute {name!r}")

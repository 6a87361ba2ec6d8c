"""REST API (FastAPI) over the registry, audit and data contexts, plus its typed client.

``modelward.api.client`` needs only httpx; the server side loads FastAPI on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelward.api.app import create_app
    from modelward.api.client import Client

__all__ = ["Client", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from modelward.api.app import create_app

        return create_app
    if name == "Client":
        from modelward.api.client import Client

        return Client
    raise AttributeError(f"module 'modelward.api' has no attribute {name!r}")

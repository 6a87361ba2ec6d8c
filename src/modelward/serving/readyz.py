"""``/readyz``: whether the gateway can answer, and why not.

Ready means: started and not stopping, every endpoint's definition loaded, the metadata
database readable (endpoint refresh and token checks), and the online store answering
within 2 s when an endpoint reads features. Each problem is named; an endpoint whose
model could not load is listed as served by its fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from modelward.serving.auth import TokenVerifier
from modelward.serving.config_cache import EndpointCache

__all__ = ["readiness"]


class Watched(Protocol):
    """What readiness reads of a gateway (:class:`~modelward.serving.gateway.Gateway`)."""

    cache: EndpointCache
    verifier: TokenVerifier
    ready: bool
    refresh_problem: str | None
    feature_probe: Callable[[], None] | None
    startup_s: float


async def readiness(gateway: Watched) -> tuple[int, dict[str, Any]]:
    """The HTTP status (200 ready, 503 not) and the document ``/readyz`` answers."""
    cache = gateway.cache
    problems: dict[str, str] = dict(cache.failed)
    if not gateway.ready:
        problems["gateway"] = "starting or stopping"
    database = [p for p in (gateway.refresh_problem, gateway.verifier.database_problem) if p]
    if database:
        problems["database"] = "; ".join(database)[:600]
    if gateway.feature_probe is not None and any(
        rt.uses_features for rt in cache.runtimes.values()
    ):
        try:
            await asyncio.wait_for(asyncio.to_thread(gateway.feature_probe), timeout=2.0)
        except Exception as exc:
            problems["feature_store"] = f"{type(exc).__name__}: {exc}"[:300]
    body = {
        "status": "ready" if not problems else "not ready",
        "endpoints": {
            name: {
                "model": rt.model.name,
                "model_version": rt.model.version or None,
                "config_version": rt.config_version,
                # the model is not loaded: the fallback answers every request
                **({"serving": "fallback"} if rt.unavailable else {}),
            }
            for name, rt in cache.runtimes.items()
        },
        "problems": problems,
        # served, but not as the newest definition says (it could not be loaded)
        "warnings": dict(cache.stale),
        "startup_s": round(gateway.startup_s, 4),
        # start-up minus model loading: what the gateway adds before it can serve
        "ready_after_load_s": round(max(gateway.startup_s - cache.load_s, 0.0), 4),
    }
    return (200 if not problems else 503), body

"""Scale-out prediction log: gateways write to a Redis Stream per endpoint (real Redis)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelward.config.settings import ServingSettings
from modelward.monitoring.predictions import PredictionLogWriter, open_prediction_sink
from modelward.serving.auth import TokenVerifier
from modelward.serving.config_cache import EndpointCache, Sources
from modelward.serving.gateway import Gateway
from modelward.serving.metrics import GatewayMetrics
from modelward.serving.models import ObjectModelLoader, StaticModelResolver
from tests import services
from tests.unit.serving.support import AUTH, ConstantModel, World, authenticate, row, serving, spec

pytestmark = pytest.mark.redis


def test_every_answer_of_two_gateways_lands_in_the_endpoint_stream() -> None:
    # a Redis sink keeps no files, so its workspace root is irrelevant (Path())
    config = {"type": "redis", "url": services.redis_url(), "key_prefix": f"mw{uuid.uuid4().hex}"}
    world = World()
    world.model("m@production", ConstantModel(0.4), "2")
    world.put(spec(pii_fields=["f0"]))

    def gateway() -> Gateway:
        metrics = GatewayMetrics()
        sources = Sources(world.load, StaticModelResolver(world.models), ObjectModelLoader())
        return Gateway(
            ServingSettings(access_log=False, gc_freeze=False, poll_interval_s=3600),
            EndpointCache(sources, metrics),
            TokenVerifier(authenticate),
            PredictionLogWriter(open_prediction_sink(config, Path()), batch_size=16),
            metrics,
        )

    async def replica(n: int) -> list[str]:
        async with serving(gateway()) as http:
            answers = await asyncio.gather(
                *(
                    http.post("/v1/endpoints/m/predict", json={"inputs": row(0.1)}, headers=AUTH)
                    for _ in range(n)
                )
            )
        return [a.json()["request_id"] for a in answers]

    async def both() -> list[Any]:
        return list(await asyncio.gather(replica(60), replica(40)))

    first, second = asyncio.run(both())
    sink = open_prediction_sink(config, Path())
    try:
        logged = sink.read("m")
        assert sorted(r.request_id for r in logged) == sorted(first + second)
        assert all(r.inputs["f0"] == "[redacted]" and r.prediction == 0.4 for r in logged)
        assert np.isclose(logged[0].inputs["f1"], 0.1)
    finally:
        sink.drop()  # type: ignore[attr-defined]
        sink.close()

"""The raw limit for the gateway benchmark: Starlette on uvicorn, parse JSON, call the model.

No validation, no metrics, no logging, no auth. ``BARE_BATCH=1`` adds opportunistic
micro-batching (requests already waiting are scored in one call, no timed wait) and a
frozen garbage collector, the faster raw limit the issue quotes.

    BARE_MODEL=model.joblib uvicorn --app-dir benchmarks gateway_bare_app:app
"""

from __future__ import annotations

import asyncio
import gc
import os
from contextlib import asynccontextmanager
from typing import Any

import joblib
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MODEL: Any = joblib.load(os.environ["BARE_MODEL"])
BATCH = os.environ.get("BARE_BATCH") == "1"
_pending: list[tuple[list[float], asyncio.Future[float]]] = []


def _flush() -> None:
    batch = _pending[:]
    _pending.clear()
    scores = MODEL.predict_proba(np.array([x for x, _ in batch]))[:, 1]
    for (_, fut), score in zip(batch, scores.tolist(), strict=True):
        fut.set_result(score)


async def predict(request: Request) -> JSONResponse:
    body = await request.json()
    x = list(body["inputs"].values())
    if BATCH:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if not _pending:
            asyncio.get_running_loop().call_soon(_flush)
        _pending.append((x, fut))
        score = await fut
    else:
        score = float(MODEL.predict_proba(np.array([x]))[0, 1])
    return JSONResponse({"prediction": score})


@asynccontextmanager
async def lifespan(app: Starlette) -> Any:
    MODEL.predict_proba(np.zeros((1, MODEL.n_features_in_)))
    if BATCH:
        gc.collect()
        gc.freeze()
    yield


app = Starlette(routes=[Route("/predict", predict, methods=["POST"])], lifespan=lifespan)

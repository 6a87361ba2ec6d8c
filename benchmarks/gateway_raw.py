"""The raw limits of the gateway benchmark's two feeds, in-process (no HTTP).

CPU per call of building the model's input from parsed request rows — the float matrix of
the array path, the typed DataFrame of the frame path (the gateway's own
``modelward.serving.feeds`` builders) — and of ``predict_proba`` on each input, for the
same 100-tree model fitted once on a matrix and once on a DataFrame.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

__all__ = ["raw_model_cost"]


def _cpu_us(call: Any, n: int = 3_000) -> float:
    for _ in range(200):
        call()
    t0 = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - t0) / n * 1e6


def raw_model_cost(model_path: Path, frame_model_path: Path, width: int) -> dict[str, float]:
    """CPU per call, in-process: each feed's input building and the model on each input."""
    import joblib
    import numpy as np

    from modelward.serving.feeds import ModelInput, array_input, frame_input

    model = joblib.load(model_path)
    framed = joblib.load(frame_model_path)
    names = [f"f{i}" for i in range(width)]
    as_array = array_input(names)
    as_frame = frame_input([ModelInput(n, "double") for n in names])
    out = {}
    for rows in (1, 32):
        x = np.random.default_rng(1).normal(size=(rows, width))
        parsed = [dict(zip(names, r, strict=True)) for r in x.tolist()]
        matrix, frame = as_array(parsed), as_frame(parsed)
        out[f"predict_proba_{rows}_rows_cpu_us"] = _cpu_us(partial(model.predict_proba, x))
        out[f"array_feed_{rows}_rows_cpu_us"] = _cpu_us(partial(as_array, parsed))
        out[f"frame_feed_{rows}_rows_cpu_us"] = _cpu_us(partial(as_frame, parsed), 1_000)
        out[f"predict_proba_array_{rows}_rows_cpu_us"] = _cpu_us(
            partial(model.predict_proba, matrix)
        )
        out[f"predict_proba_frame_{rows}_rows_cpu_us"] = _cpu_us(
            partial(framed.predict_proba, frame), 1_000
        )
    return out

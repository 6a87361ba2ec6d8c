"""The prediction table's JSON texts: one rendering whatever the size of the write."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from modelward.monitoring import prediction_table
from modelward.monitoring.predictions.table import json_texts


def test_a_small_table_is_rendered_to_the_json_text_duckdb_gives_a_large_one() -> None:
    rng = np.random.default_rng(3)
    n = 12_000  # past the row-by-row threshold: DuckDB renders it
    inputs = pa.table(
        {
            "x": rng.normal(size=n),
            "k": pa.array(rng.integers(-(2**40), 2**40, size=n)),
            "s": pa.array([f'é{i}"q' if i % 7 else None for i in range(n)]),
            "b": pa.array([i % 2 == 0 for i in range(n)]),
        }
    )
    table = prediction_table(
        request_ids=[str(i) for i in range(n)],
        at_us=1,
        model="m",
        model_version="1",
        inputs=inputs,
        predictions=pa.array(rng.random(n)),
        latency_ms=0.5,
        pii={"b"},
    )
    large = json_texts(table)
    small = json_texts(table.slice(0, 500))
    assert small == (large[0][:500], large[1][:500])
    # NaN and infinity are left to DuckDB, which keeps them apart from null
    odd = table.slice(0, 3).set_column(5, "prediction", pa.array([float("nan"), float("inf"), 0.5]))
    assert json_texts(odd)[1] == ["NaN", "Infinity", "0.5"]

"""Train/test splits that are explicit and stored: time-based or seeded random.

A split returns both parts as tables (their rows identified by the entity key and time
columns they carry, and content-addressed once stored) and a manifest saying how the
split was made, with the hash of each part: the same input and parameters give the same
parts, and the manifest shows it.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from modelward.data import hash_batches
from modelward.errors import InputError

__all__ = ["split_table"]


def _hash(table: pa.Table) -> str:
    return hash_batches(table.schema, table.to_batches())


def split_table(
    table: pa.Table,
    *,
    kind: str,
    test_fraction: float,
    seed: int,
    timestamp: str,
    key: str,
) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """``(train, test, manifest)``. ``kind`` is "time" (the latest event times are the test
    part; nothing from the test period leaks into training) or "random" (seeded)."""
    if not 0 < test_fraction < 1:
        raise InputError(
            f"split: test_fraction must be between 0 and 1, got {test_fraction}",
            param="test_fraction",
        )
    if table.num_rows < 2:
        raise InputError(f"split: {table.num_rows} row(s) cannot be split", param="split")
    # a fixed row order first, so the parts never depend on how the input was ordered
    table = table.sort_by([(timestamp, "ascending"), (key, "ascending")])
    if kind == "time":
        times = pc.unique(table.column(timestamp)).sort()
        cut_index = min(max(int(len(times) * (1 - test_fraction)), 1), len(times) - 1)
        cutoff = times[cut_index]
        is_test = pc.greater_equal(table.column(timestamp), cutoff)
        logic = (
            f"time-based: test = {timestamp} >= {cutoff.as_py().isoformat()} "
            f"(latest {test_fraction:.0%} of event times), train = earlier rows"
        )
        seed_used: int | None = 0  # deterministic without randomness; recorded as 0
    elif kind == "random":
        import numpy as np

        n_test = min(max(1, round(table.num_rows * test_fraction)), table.num_rows - 1)
        order = np.random.default_rng(seed).permutation(table.num_rows)
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[order[:n_test]] = True
        is_test = pa.array(mask)
        logic = f"seeded random: {test_fraction:.0%} of rows to test, numpy default_rng({seed})"
        seed_used = seed
    else:
        raise InputError(f"split: kind must be 'time' or 'random', got {kind!r}", param="split")
    test = table.filter(is_test)
    train = table.filter(pc.invert(is_test))
    if train.num_rows == 0 or test.num_rows == 0:
        raise InputError("split: one part is empty; use more data or another fraction")
    manifest = {
        "kind": kind,
        "logic": logic,
        "seed": seed_used,
        "test_fraction": test_fraction,
        "train_rows": train.num_rows,
        "test_rows": test.num_rows,
        "train_hash": _hash(train),
        "test_hash": _hash(test),
        "identified_by": [key, timestamp],
    }
    return train, test, manifest

"""Running an on-demand transform: the same call for the offline join and the online lookup.

The function is called once per batch, vectorised. When it raises, the batch is split in
halves until one row is left that raises on its own, so the error names the feature view
and the row (its position and entity keys) instead of a whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from modelward.errors import InputError
from modelward.features.definitions import ARROW_TYPES, OnDemandView

__all__ = ["apply_on_demand"]


def _call(view: OnDemandView, table: pa.Table) -> dict[str, pa.Array]:
    result = view.function(table)
    if isinstance(result, pa.Table | pa.RecordBatch):
        result = {name: result.column(name) for name in result.column_names}
    if not isinstance(result, Mapping):
        raise TypeError(
            f"returned {type(result).__name__}; return a pyarrow Table or a mapping of "
            "output name to values"
        )
    out: dict[str, pa.Array] = {}
    for feat in view.outputs:
        if feat.name not in result:
            raise KeyError(f"output {feat.name!r} missing from the result")
        values: Any = result[feat.name]
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        arr = values if isinstance(values, pa.Array) else pa.array(values)
        if len(arr) != table.num_rows:
            raise ValueError(
                f"output {feat.name!r} has {len(arr)} values for {table.num_rows} rows"
            )
        out[feat.name] = arr.cast(ARROW_TYPES[feat.dtype])
    return out


def _first_failing_row(view: OnDemandView, table: pa.Table) -> int | None:
    lo, hi = 0, table.num_rows
    if hi == 0:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            _call(view, table.slice(lo, mid - lo))
        except Exception:
            hi = mid
            continue
        lo = mid
    try:
        _call(view, table.slice(lo, 1))
    except Exception:
        return lo
    return None  # fails only on the whole batch: a cross-row problem, reported as such


def apply_on_demand(
    view: OnDemandView, table: pa.Table, *, keys: Sequence[str] = (), row_offset: int = 0
) -> dict[str, pa.Array]:
    """The transform's outputs for ``table``, cast to their declared types."""
    try:
        return _call(view, table)
    except Exception as exc:
        row = _first_failing_row(view, table)
        reason = f"{type(exc).__name__}: {exc}"
        if row is None:
            raise InputError(
                f"on-demand feature view {view.name!r} failed on a batch of "
                f"{table.num_rows} rows starting at row {row_offset}: {reason}",
                view=view.name,
            ) from None
        try:
            _call(view, table.slice(row, 1))
        except Exception as row_exc:
            reason = f"{type(row_exc).__name__}: {row_exc}"
        key_values = {k: table.column(k)[row].as_py() for k in keys if k in table.column_names}
        where = f"row {row_offset + row}" + (f" ({key_values})" if key_values else "")
        raise InputError(
            f"on-demand feature view {view.name!r} "
            f"(features {', '.join(view.feature_names)}) failed on {where}: {reason}",
            view=view.name,
            row=row_offset + row,
            keys={k: str(v) for k, v in key_values.items()},
        ) from None

"""Prediction records as one Arrow table: the columnar write of the prediction log.

Batch scoring logs a whole part at once. Building one :class:`PredictionRecord` (a dict of
every input) per row cost more than the model call, so a part goes to the sink as one
table (:func:`prediction_table`), and the sinks serialise it column by column: the
``inputs`` struct and the predictions become JSON text in DuckDB's vectorised
``to_json`` (:func:`json_texts`), the same text the per-row path stores, so windows,
delayed labels and shadow analysis read both alike.

The table's columns, one row per prediction:

======================  =========================================================
``request_id``          string
``at_us``               int64, microseconds since the epoch (UTC)
``model``               string
``model_version``       string
``inputs``              struct, one child per logged field (PII already redacted)
``prediction``          double, or any type ``to_json`` renders (a struct, a list)
``latency_ms``          double
``degraded``            bool
``mode``, ``role``,     string
``release_id``,
``error``
======================  =========================================================

Example::

    table = prediction_table(
        request_ids=ids, at_us=now_us, model="churn", model_version="3",
        inputs=part.select(["customer_id", "email"]), predictions=scores,
        latency_ms=0.4, mode="batch", pii={"email"},
    )
    sink.write_table("churn", table)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from modelward.monitoring.predictions.base import PredictionRecord

__all__ = ["TABLE_FIELDS", "json_texts", "prediction_table", "records_from_table"]

REDACTED = "[redacted]"

#: the fixed columns of a prediction table, in order, with ``inputs`` and ``prediction``
TABLE_FIELDS: tuple[str, ...] = (
    "request_id",
    "at_us",
    "model",
    "model_version",
    "inputs",
    "prediction",
    "latency_ms",
    "degraded",
    "mode",
    "role",
    "release_id",
    "error",
)


def _constant(value: Any, n: int, kind: pa.DataType) -> pa.Array:
    # pa.repeat fills the buffer in C: a Python list of n items took longer than the model
    return pa.repeat(pa.scalar(value, kind), n)


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    """``column`` as one array: its only chunk as it is (no copy of a batch's inputs)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def prediction_table(
    *,
    request_ids: pa.Array | pa.ChunkedArray | Iterable[str],
    at_us: int,
    model: str,
    model_version: str,
    inputs: pa.Table,
    predictions: pa.Array | pa.ChunkedArray | Iterable[Any],
    latency_ms: float,
    mode: str = "batch",
    pii: Iterable[str] = (),
    degraded: bool = False,
    role: str = "primary",
    release_id: str = "",
    error: str = "",
) -> pa.Table:
    """The rows of one write, every record of it sharing the scalar fields given.

    ``inputs`` holds one column per logged field, in the order they are logged; the
    values of the ``pii`` fields are replaced by ``[redacted]`` here, as the gateway
    redacts a record's inputs before it is queued.
    """
    n = inputs.num_rows
    hidden = set(pii)
    children = [
        _constant(REDACTED, n, pa.string()) if name in hidden else _one_array(inputs.column(name))
        for name in inputs.column_names
    ]
    struct = (
        pa.StructArray.from_arrays(children, names=inputs.column_names)
        if inputs.num_columns
        else pa.array([{}] * n, pa.struct([]))
    )
    ids = (
        request_ids
        if isinstance(request_ids, pa.Array | pa.ChunkedArray)
        else pa.array(list(request_ids), pa.string())
    )
    scores = (
        predictions
        if isinstance(predictions, pa.Array | pa.ChunkedArray)
        else pa.array(list(predictions))
    )
    if len(ids) != n or len(scores) != n:
        raise ValueError(
            f"prediction table: {len(ids)} request ids and {len(scores)} predictions "
            f"for {n} input rows"
        )
    return pa.Table.from_arrays(
        [
            ids,
            _constant(at_us, n, pa.int64()),
            _constant(model, n, pa.string()),
            _constant(model_version, n, pa.string()),
            struct,
            scores,
            _constant(float(latency_ms), n, pa.float64()),
            _constant(degraded, n, pa.bool_()),
            _constant(mode, n, pa.string()),
            _constant(role, n, pa.string()),
            _constant(release_id, n, pa.string()),
            _constant(error, n, pa.string()),
        ],
        names=list(TABLE_FIELDS),
    )


def check_table(table: pa.Table) -> None:
    """Refuse a table without the columns of :data:`TABLE_FIELDS` (naming the first)."""
    for name in TABLE_FIELDS:
        if name not in table.column_names:
            raise ValueError(f"prediction table: column {name!r} is missing")
    if not pa.types.is_struct(table.schema.field("inputs").type):
        raise ValueError("prediction table: column 'inputs' must be a struct")


#: below this many rows, and with plain JSON types only, rows are rendered by orjson:
#: opening a DuckDB connection costs more than rendering a stream's micro-batch (about
#: 55 ms of CPU against 5 ms for 500 rows of 20 floats)
_SMALL_ROWS = 10_000


def _plain(values: pa.Array) -> bool:
    """Whether orjson renders ``values`` as DuckDB's ``to_json`` does: numbers, text,
    booleans and nulls, and no NaN or infinity (orjson writes those as null)."""
    import pyarrow.compute as pc

    kind = values.type
    if pa.types.is_struct(kind):
        return all(_plain(values.field(i)) for i in range(kind.num_fields))
    if pa.types.is_floating(kind):
        return pc.any(pc.invert(pc.is_finite(values))).as_py() is not True
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_null(kind)
    )


def json_texts(table: pa.Table) -> tuple[list[str], list[str]]:
    """The ``inputs`` and ``prediction`` of every row as JSON text, in row order.

    DuckDB renders them in one vectorised pass; the text parses back to the values the
    per-row path stores (numbers as numbers, text as text, null as null). A small table
    of plain types (a stream's micro-batch) is rendered row by row with orjson instead.
    """
    import duckdb

    if not table.num_rows:
        return [], []
    part = table.select(["inputs", "prediction"]).combine_chunks()
    if part.num_rows < _SMALL_ROWS and all(_plain(c.chunk(0)) for c in part.columns):
        import orjson

        dumps = orjson.dumps
        return (
            [dumps(v).decode() for v in part.column("inputs").to_pylist()],
            [dumps(v).decode() for v in part.column("prediction").to_pylist()],
        )
    with duckdb.connect() as con:
        con.register("part", part)
        rendered = con.sql(
            "SELECT to_json(inputs)::VARCHAR AS i, to_json(prediction)::VARCHAR AS p FROM part"
        ).to_arrow_table()
    inputs: list[str] = rendered.column("i").to_pylist()
    predictions: list[str] = rendered.column("p").to_pylist()
    return inputs, predictions


def records_from_table(endpoint: str, table: pa.Table) -> list[PredictionRecord]:
    """The table's rows as records: for sinks that store records (the in-memory one)."""
    check_table(table)
    columns = {name: table.column(name).to_pylist() for name in TABLE_FIELDS}
    return [
        PredictionRecord(
            request_id,
            at_us,
            endpoint,
            model,
            version,
            inputs,
            prediction,
            latency,
            degraded,
            mode,
            role,
            release,
            error,
        )
        for (
            request_id,
            at_us,
            model,
            version,
            inputs,
            prediction,
            latency,
            degraded,
            mode,
            role,
            release,
            error,
        ) in zip(*(columns[name] for name in TABLE_FIELDS), strict=True)
    ]

"""Windows of the prediction log as Arrow: one shape for every backend.

A window is a :class:`pyarrow.Table` with the record's fields as columns (``at_us`` as
int64 microseconds, ``degraded`` as bool, ...), a ``cursor`` column (the backend's write
position, passed back as ``after=`` to read on from there), ``inputs`` as a struct column
with one typed child per input field (``window.column("inputs").flatten()`` or
``pyarrow.compute.struct_field``), and ``prediction`` typed the same way: ``double`` when
every prediction is a number, a struct when they are objects, and JSON text only when the
values of one field disagree in type (a model that answers a number on one row and an
object on the next).

Every backend filters in its own engine and hands the rows to :func:`build_window`, so the
typing rules live in one place and the shared suite checks them once.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pajson

__all__ = [
    "WINDOW_COLUMNS",
    "WINDOW_FIELDS",
    "WindowQuery",
    "build_fixed",
    "build_window",
    "build_window_from_json",
    "check_columns",
    "empty_window",
    "needs_payload",
    "project",
]

#: the fixed columns of a window, in order, before ``inputs`` and ``prediction``
WINDOW_FIELDS: tuple[pa.Field, ...] = (
    pa.field("cursor", pa.string()),
    pa.field("request_id", pa.string()),
    pa.field("at_us", pa.int64()),
    pa.field("endpoint", pa.string()),
    pa.field("model", pa.string()),
    pa.field("model_version", pa.string()),
    pa.field("latency_ms", pa.float64()),
    pa.field("degraded", pa.bool_()),
    pa.field("mode", pa.string()),
    pa.field("role", pa.string()),
    pa.field("release_id", pa.string()),
    pa.field("error", pa.string()),
)

#: every column a window has, in order: what ``read_window(columns=...)`` may ask for
WINDOW_COLUMNS: tuple[str, ...] = (*(f.name for f in WINDOW_FIELDS), "inputs", "prediction")


def check_columns(columns: Sequence[str] | None) -> list[str] | None:
    """``columns`` of a ``read_window`` call as a list (``None``: every column); an unknown
    or repeated name is an :class:`~modelward.errors.InputError` naming it."""
    if columns is None:
        return None
    from modelward.errors import InputError

    wanted = list(columns)
    for name in wanted:
        if name not in WINDOW_COLUMNS:
            raise InputError(
                f"columns: {str(name)[:60]!r} is not a column of a prediction log window "
                f"(one of {', '.join(WINDOW_COLUMNS)})",
                field="columns",
            )
    if len(set(wanted)) != len(wanted):
        raise InputError("columns: each column may be named once", field="columns")
    return wanted


def needs_payload(columns: Sequence[str] | None) -> bool:
    """Whether a window with ``columns`` holds ``inputs`` or ``prediction``: the columns a
    backend must decode (JSON text, struct children); the others are cheap."""
    return columns is None or "inputs" in columns or "prediction" in columns


def project(table: pa.Table, columns: Sequence[str] | None) -> pa.Table:
    """``table`` with only ``columns``, in their order (``None``: unchanged)."""
    return table if columns is None else table.select(list(columns))


class WindowQuery:
    """The filter of one ``read_window`` call, shared by backends that filter in Python."""

    __slots__ = ("end_us", "endpoint", "start_us", "version")

    def __init__(
        self, endpoint: str, version: str | None, start_us: int | None, end_us: int | None
    ) -> None:
        self.endpoint = endpoint
        self.version = version
        self.start_us = start_us
        self.end_us = end_us

    def keeps(self, endpoint: str, version: str, at_us: int) -> bool:
        return (
            endpoint == self.endpoint
            and (self.version is None or version == self.version)
            and (self.start_us is None or at_us >= self.start_us)
            and (self.end_us is None or at_us < self.end_us)
        )


def _column(values: list[Any]) -> pa.Array:
    """One typed column; values of disagreeing types become their JSON text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array(
            [
                None if v is None else orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY).decode()
                for v in values
            ],
            pa.string(),
        )


def _struct(dicts: list[Any]) -> pa.Array:
    """Dict rows as a struct column with one typed child per key (absent keys are null)."""
    names: dict[str, None] = {}
    for d in dicts:
        names.update(dict.fromkeys(d))
    if not names:
        return pa.array([{}] * len(dicts), pa.struct([]))
    children = [_column([d.get(name) for d in dicts]) for name in names]
    return pa.StructArray.from_arrays(children, names=list(names))


def _prediction(values: list[Any]) -> pa.Array:
    if values and all(isinstance(v, dict) for v in values):
        return _struct(values)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return pa.array(values, pa.float64())
    return _column(values)


def build_window(
    columns: Sequence[list[Any]], inputs: list[dict[str, Any]], predictions: list[Any]
) -> pa.Table:
    """The window of rows given column-wise, in :data:`WINDOW_FIELDS` order."""
    arrays = [pa.array(values, f.type) for values, f in zip(columns, WINDOW_FIELDS, strict=True)]
    return pa.Table.from_arrays(
        [*arrays, _struct(inputs), _prediction(predictions)],
        names=[*(f.name for f in WINDOW_FIELDS), "inputs", "prediction"],
    )


def build_fixed(columns: Sequence[list[Any]], keep: Sequence[str]) -> pa.Table:
    """A window of only the fixed columns ``keep`` (no ``inputs``, no ``prediction``), from
    the rows given column-wise in :data:`WINDOW_FIELDS` order: nothing is decoded."""
    arrays = {
        f.name: pa.array(values, f.type)
        for values, f in zip(columns, WINDOW_FIELDS, strict=True)
        if f.name in keep
    }
    return pa.Table.from_arrays([arrays[name] for name in keep], names=list(keep))


def _parse_objects(lines: bytes, rows: int) -> pa.StructArray | None:
    """JSON objects, one per line, as one struct column parsed by Arrow (one block, so
    every row is typed alike); ``None`` when Arrow cannot type them (mixed kinds)."""
    if not rows:
        return None
    options = pajson.ReadOptions(block_size=max(len(lines) + 1, 1 << 20))
    try:
        table = pajson.read_json(io.BytesIO(lines), read_options=options)
        # Arrow reads ISO-looking text as timestamps; the log keeps what was sent (text,
        # as every backend gives it), so those fields are read again as strings
        stamped = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
        if stamped:
            schema = pa.schema(
                [pa.field(f.name, pa.string()) if f.name in stamped else f for f in table.schema]
            )
            parse = pajson.ParseOptions(explicit_schema=schema)
            table = pajson.read_json(io.BytesIO(lines), read_options=options, parse_options=parse)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != rows or not table.num_columns or _has_timestamps(table.schema):
        return None
    struct: pa.StructArray = table.to_struct_array().combine_chunks()
    return struct


def _has_timestamps(schema: pa.Schema) -> bool:
    """Timestamps nested in structs or lists (not re-read as text): the Python path."""
    return "timestamp" in str(schema)


def _join(texts: Sequence[str | bytes]) -> bytes:
    if texts and isinstance(texts[0], str):
        return "\n".join(texts).encode()  # type: ignore[arg-type]
    return b"\n".join(texts)  # type: ignore[arg-type]


def build_window_from_json(
    columns: Sequence[list[Any]],
    inputs: Sequence[str | bytes],
    predictions: Sequence[str | bytes],
) -> pa.Table:
    """As :func:`build_window`, from the stored JSON texts: Arrow's JSON reader parses and
    types them in one pass (about twice as fast as parsing each row in Python, and no
    Python object per value); rows Arrow cannot type alike fall back to the Python path."""
    n = len(inputs)
    parsed_inputs = _parse_objects(_join(inputs), n)
    wrapped = [b'{"p":' + (p.encode() if isinstance(p, str) else p) + b"}" for p in predictions]
    parsed_predictions = _parse_objects(b"\n".join(wrapped), n)
    if parsed_inputs is None or parsed_predictions is None:
        loads = orjson.loads
        return build_window(columns, [loads(v) for v in inputs], [loads(v) for v in predictions])
    prediction = parsed_predictions.field("p")
    if pa.types.is_integer(prediction.type):
        prediction = prediction.cast(pa.float64())
    arrays = [pa.array(values, f.type) for values, f in zip(columns, WINDOW_FIELDS, strict=True)]
    return pa.Table.from_arrays(
        [*arrays, parsed_inputs, prediction],
        names=[*(f.name for f in WINDOW_FIELDS), "inputs", "prediction"],
    )


def empty_window() -> pa.Table:
    return build_window([[] for _ in WINDOW_FIELDS], [], [])

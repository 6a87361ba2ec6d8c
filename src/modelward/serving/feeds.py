"""How request rows become a model's input: a float matrix, or a DataFrame of named columns.

Chosen once per model at load, from what the model itself says about its inputs:

* **frame**: the model names its inputs (an MLflow signature with column names, or a
  scikit-learn estimator fitted on a DataFrame, which keeps ``feature_names_in_``), and
  either it goes through ``mlflow.pyfunc``, or it was fitted on a DataFrame (a
  ``ColumnTransformer`` selecting columns by name needs one), or an input is not a
  number (a string column cannot be a float). The rows become a pandas DataFrame with
  exactly those columns, in that order, each with the dtype its signature gives.
* **array**: everything else — a model fitted on a matrix. The rows become one float64
  matrix in the endpoint's column order: no DataFrame is built, the fastest path.

The signature is read from the model's ``MLmodel`` file (MLflow's documented format:
``signature.inputs`` is a JSON list of ``{"name", "type"}`` for a column-based schema, or
``{"type": "tensor"}`` entries for a tensor-based one, which names nothing).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from modelward.serving.endpoints import FieldType

__all__ = [
    "Feed",
    "ModelInput",
    "array_input",
    "choose_feed",
    "declared_inputs",
    "frame_input",
    "signature_inputs",
    "warm_up_rows",
]

Feed = Literal["array", "frame"]
#: rows (one mapping per row) -> the model's native input
Builder = Callable[[Sequence[Mapping[str, Any]]], Any]

#: MLflow column types -> the request field type that carries them
_FIELD_TYPES: dict[str, FieldType] = {
    "double": "float",
    "float": "float",
    "long": "int",
    "integer": "int",
    "boolean": "bool",
    "string": "string",
}
#: MLflow column types -> the numpy dtype of the DataFrame column
_DTYPES: dict[str, Any] = {
    "double": np.float64,
    "float": np.float32,
    "long": np.int64,
    "integer": np.int32,
    "boolean": np.bool_,
    "string": object,
}
_NUMERIC = frozenset({"double", "float", "long", "integer"})
_ZERO: dict[str, Any] = {"boolean": False, "string": ""}


@dataclass(frozen=True)
class ModelInput:
    """One input column a model names, with its MLflow type (None: the model does not say)."""

    name: str
    type: str | None = None

    @property
    def field_type(self) -> FieldType | None:
        """The request field type for this column (None: no request type carries it)."""
        return _FIELD_TYPES.get(self.type) if self.type is not None else None


def signature_inputs(meta: Mapping[str, Any]) -> tuple[ModelInput, ...] | None:
    """The named inputs of an ``MLmodel`` document's signature; None when it names none."""
    signature = meta.get("signature") or {}
    raw = signature.get("inputs")
    if not raw:
        return None
    try:
        entries = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    if not isinstance(entries, list) or not entries:
        return None
    named = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("name"):
            return None  # a tensor spec: positional, no names
        kind = entry.get("type")
        named.append(ModelInput(str(entry["name"]), kind if isinstance(kind, str) else str(kind)))
    return tuple(named)


def declared_inputs(
    obj: Any, signature: tuple[ModelInput, ...] | None
) -> tuple[ModelInput, ...] | None:
    """What the model names as its inputs: its signature, else ``feature_names_in_``."""
    if signature is not None:
        return signature
    names = getattr(obj, "feature_names_in_", None)
    if names is None:
        return None
    return tuple(ModelInput(str(n)) for n in names)


def choose_feed(obj: Any, inputs: tuple[ModelInput, ...] | None, *, pyfunc: bool) -> Feed:
    """``frame`` where the model needs named columns (see the module docstring), else
    ``array``."""
    if inputs is None:
        return "frame" if pyfunc else "array"
    if pyfunc or getattr(obj, "feature_names_in_", None) is not None:
        return "frame"
    return "array" if all(i.type in _NUMERIC for i in inputs) else "frame"


def array_input(columns: Sequence[str]) -> Builder:
    """Rows -> one float64 matrix, columns in ``columns`` order."""
    names = tuple(columns)

    def build(rows: Sequence[Mapping[str, Any]]) -> Any:
        return np.array([[row[c] for c in names] for row in rows], dtype=np.float64)

    return build


def frame_input(inputs: Sequence[ModelInput]) -> Builder:
    """Rows -> a pandas DataFrame with the model's columns, typed by its signature."""
    pd: Any = importlib.import_module("pandas")  # imported at load, not per request
    spec = tuple((i.name, _DTYPES.get(i.type) if i.type else None) for i in inputs)
    names = [name for name, _ in spec]
    dtypes = {dtype for _, dtype in spec}
    if len(dtypes) == 1 and (shared := dtypes.pop()) not in (None, object):
        # one numeric dtype: one 2-D block, about 4x cheaper than a column at a time

        def block(rows: Sequence[Mapping[str, Any]]) -> Any:
            matrix = np.array([[row[c] for c in names] for row in rows], dtype=shared)
            return pd.DataFrame(matrix, columns=names, copy=False)

        return block

    def build(rows: Sequence[Mapping[str, Any]]) -> Any:
        data = {}
        for name, dtype in spec:
            values = [row[name] for row in rows]
            data[name] = np.array(values, dtype=dtype) if dtype is not None else values
        return pd.DataFrame(data, copy=False)

    return build


def warm_up_rows(inputs: Sequence[ModelInput], n: int) -> list[dict[str, Any]]:
    """``n`` rows of neutral values (0, 0.0, "", false) for a warm-up call."""
    row = {i.name: _ZERO.get(i.type or "", 0.0) for i in inputs}
    return [dict(row) for _ in range(n)]

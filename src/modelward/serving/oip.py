"""Open Inference Protocol v2 tensors: read into an endpoint's rows, answers written back.

The protocol (KServe's and Triton's "v2") sends typed tensors: a name, a ``datatype``, a
``shape`` and the elements flattened in row-major order. An endpoint takes named request
fields, so a request maps onto them in one of two ways:

- one tensor per request field, named like the field, each of shape ``[n]`` or ``[n, 1]``
  (``n`` rows); or
- a single 2-D tensor of shape ``[n, k]`` whose ``k`` columns are the request fields in the
  order the endpoint declares them (``GET /v2/models/{name}`` lists that order).

The rows then meet the endpoint's :class:`~modelward.serving.schema.RequestSchema` like any
native request. The answer is one output tensor, ``prediction``: shape ``[n]`` (``[n, k]``
when each prediction is a list of ``k`` numbers), FP64, INT64, BOOL or BYTES by what the
model returned (BYTES holds JSON text for anything else). Whether the fallback answered
is in the response's ``parameters``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelward.errors import RequestInvalid
from modelward.serving.endpoints import FieldType
from modelward.serving.schema import safe_text

__all__ = [
    "DATATYPES",
    "OUTPUT",
    "InferRequest",
    "Tensor",
    "invalid",
    "output_tensor",
    "request_from_json",
    "rows_from_tensors",
    "tensor_datatype",
]

#: datatypes this gateway reads, and the Python type of their elements
DATATYPES: dict[str, type] = {
    "BOOL": bool,
    "INT8": int,
    "INT16": int,
    "INT32": int,
    "INT64": int,
    "UINT8": int,
    "UINT16": int,
    "UINT32": int,
    "FP32": float,
    "FP64": float,
    "BYTES": str,
}
#: datatypes of the protocol this gateway does not read (no request field can hold them)
_UNSUPPORTED = frozenset({"UINT64", "FP16", "BF16"})
_NAMES = "BOOL, INT*, UINT*, FP*, BYTES"
#: the datatype an endpoint's request field is described with
_FIELD_DATATYPE: dict[str, str] = {
    "float": "FP64",
    "int": "INT64",
    "bool": "BOOL",
    "string": "BYTES",
}
#: which tensor datatypes fit each request field type
_FITS: dict[str, frozenset[str]] = {
    "float": frozenset(
        {"FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32"}
    ),
    "int": frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32"}),
    "bool": frozenset({"BOOL"}),
    "string": frozenset({"BYTES"}),
}
#: the name of the one output tensor
OUTPUT = "prediction"
#: most elements one tensor may declare (the body limit bounds the data; this the shape)
_MAX_ELEMENTS = 10_000_000


def tensor_datatype(kind: FieldType) -> str:
    """The datatype a request field of type ``kind`` is described with in metadata."""
    return _FIELD_DATATYPE[kind]


@dataclass(slots=True)
class Tensor:
    """One input tensor, its elements flattened (Python values of its datatype)."""

    name: str
    datatype: str
    shape: list[int]
    data: list[Any]


@dataclass(slots=True)
class InferRequest:
    """An inference request as the protocol defines it, whichever wire it came on."""

    inputs: list[Tensor]
    id: str = ""
    #: names of the outputs asked for (empty: all)
    outputs: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)


def invalid(errors: list[dict[str, str]], model: str) -> RequestInvalid:
    shown = "; ".join(f"{e['field']} {e['rule']}" for e in errors[:10])
    return RequestInvalid(
        f"inference request to model {model!r} is invalid: {shown}", errors=errors[:100]
    )


def check_shape(where: str, shape: Any, count: int, errors: list[dict[str, str]]) -> bool:
    """Whether ``shape`` is a list of dimensions whose product is ``count`` elements."""
    if type(shape) is not list or not set(map(type, shape)) <= {int} or min(shape, default=0) < 0:
        errors.append(
            {"field": f"{where}.shape", "rule": "must be a list of non-negative integers"}
        )
        return False
    if len(shape) > 8:
        errors.append({"field": f"{where}.shape", "rule": "at most 8 dimensions"})
        return False
    declared = math.prod(shape)
    if declared > _MAX_ELEMENTS:
        errors.append({"field": f"{where}.shape", "rule": f"at most {_MAX_ELEMENTS} elements"})
        return False
    if declared != count:
        errors.append(
            {
                "field": f"{where}.data",
                "rule": f"holds {count} elements but shape {shape} says {declared}",
            }
        )
        return False
    return True


def check_datatype(where: str, datatype: Any, errors: list[dict[str, str]]) -> bool:
    if type(datatype) is not str:  # JSON can send an object, unhashable
        shown = repr(datatype)[:40]
        rule = f"must be a datatype name, not {shown}; the protocol's are {_NAMES}"
        errors.append({"field": f"{where}.datatype", "rule": rule})
        return False
    if datatype in DATATYPES:
        return True
    if datatype in _UNSUPPORTED:
        rule = f"{datatype} is not supported here; use one of {', '.join(DATATYPES)}"
    else:
        shown = safe_text(datatype)[:40]
        rule = f"unknown datatype {shown!r}; the protocol's are {_NAMES}"
    errors.append({"field": f"{where}.datatype", "rule": rule})
    return False


_ALLOWED: dict[type, frozenset[type]] = {
    bool: frozenset({bool}),
    int: frozenset({int}),
    float: frozenset({float, int}),
    str: frozenset({str}),
}


def check_elements(where: str, tensor: Tensor, errors: list[dict[str, str]]) -> bool:
    """Whether every element has its datatype's Python type (JSON can say anything)."""
    want = DATATYPES[tensor.datatype]
    allowed = _ALLOWED[want]
    if set(map(type, tensor.data)) <= allowed:  # the common case, at C speed
        return True
    for i, value in enumerate(tensor.data):
        if type(value) in allowed:
            continue
        rule = {
            bool: "must hold true or false",
            int: "must hold integers",
            float: "must hold numbers",
            str: "must hold strings",
        }[want]
        errors.append({"field": f"{where}.data[{i}]", "rule": f"{rule} ({tensor.datatype})"})
        return False
    return True


def rows_from_tensors(
    request: InferRequest, fields: Mapping[str, FieldType], model: str
) -> list[dict[str, Any]]:
    """The endpoint's rows from the request's tensors (see the module's two layouts)."""
    inputs = request.inputs
    errors: list[dict[str, str]] = []
    if not inputs:
        raise invalid([{"field": "inputs", "rule": "must hold at least one tensor"}], model)
    for name in request.outputs:
        if name != OUTPUT:
            errors.append(
                {
                    "field": f"outputs.{safe_text(name)[:128]}",
                    "rule": f"is not an output of model {model!r}; it has {OUTPUT!r}",
                }
            )
    names = list(fields)
    if len(inputs) == 1 and inputs[0].name not in fields and len(inputs[0].shape) == 2:
        if errors:
            raise invalid(errors, model)
        return _rows_from_matrix(inputs[0], names, fields, model)
    columns: dict[str, list[Any]] = {}
    n: int | None = None
    for i, tensor in enumerate(inputs):
        where = f"inputs[{i}]"
        if tensor.name not in fields:
            errors.append(
                {
                    "field": f"{where}.name",
                    "rule": f"{safe_text(tensor.name)[:128]!r} is not an input of model "
                    f"{model!r}; it takes {', '.join(names)}",
                }
            )
            continue
        if tensor.name in columns:
            errors.append({"field": f"{where}.name", "rule": f"{tensor.name!r} is given twice"})
            continue
        kind = fields[tensor.name]
        if tensor.datatype not in _FITS[kind]:
            errors.append(
                {
                    "field": f"{where}.datatype",
                    "rule": f"{tensor.datatype} does not fit input {tensor.name!r} ({kind}); "
                    f"send {_FIELD_DATATYPE[kind]}",
                }
            )
            continue
        shape = tensor.shape
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            errors.append(
                {
                    "field": f"{where}.shape",
                    "rule": f"must be [n] or [n, 1] (one value per row), not {shape}",
                }
            )
            continue
        if n is not None and shape[0] != n:
            errors.append(
                {
                    "field": f"{where}.shape",
                    "rule": f"has {shape[0]} rows where the others have {n}",
                }
            )
            continue
        n = shape[0]
        columns[tensor.name] = tensor.data
    given = {t.name for t in inputs}
    errors.extend(
        {"field": f"inputs.{name}", "rule": "is required"} for name in names if name not in given
    )
    if errors:
        raise invalid(errors, model)
    if not n:
        raise invalid([{"field": "inputs", "rule": "must hold at least one row"}], model)
    data = [columns[name] for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*data, strict=True)]


def _rows_from_matrix(
    tensor: Tensor, names: list[str], fields: Mapping[str, FieldType], model: str
) -> list[dict[str, Any]]:
    n, k = tensor.shape
    if k != len(names):
        raise invalid(
            [
                {
                    "field": "inputs[0].shape",
                    "rule": f"a 2-D tensor needs one column per input ({len(names)}: "
                    f"{', '.join(names)}), not {k}",
                }
            ],
            model,
        )
    if n == 0:
        raise invalid([{"field": "inputs", "rule": "must hold at least one row"}], model)
    data = tensor.data
    # one datatype for all columns: an integral float in an int column is that integer
    kinds = fields.values()
    ints = [j for j, kind in enumerate(kinds) if kind == "int"] if "int" in kinds else []
    rows = []
    for r in range(n):
        values = data[r * k : (r + 1) * k]
        for j in ints:
            v = values[j]
            if type(v) is float and v.is_integer() and abs(v) < 2**63:
                values[j] = int(v)
        rows.append(dict(zip(names, values, strict=True)))
    return rows


def output_tensor(predictions: Sequence[Any]) -> tuple[str, list[int], list[Any]]:
    """``(datatype, shape, flat data)`` of the ``prediction`` output."""
    n = len(predictions)
    first = predictions[0] if n else None
    if (
        type(first) is list
        and first
        and all(type(p) is list and len(p) == len(first) for p in predictions)
    ):
        flat = [v for p in predictions for v in p]
        datatype = _datatype(flat)
        if datatype != "BYTES":
            return datatype, [n, len(first)], flat
    else:
        datatype = _datatype(predictions)
        if datatype != "BYTES" or all(type(p) is str for p in predictions):
            return datatype, [n], list(predictions)
    return "BYTES", [n], [p if type(p) is str else orjson.dumps(p).decode() for p in predictions]


def _datatype(values: Sequence[Any]) -> str:
    kinds = {type(v) for v in values}
    if kinds == {bool}:
        return "BOOL"
    if kinds == {int}:
        return "INT64" if all(-(2**63) <= v < 2**63 for v in values) else "BYTES"
    if kinds and kinds <= {int, float}:
        return "FP64"
    return "BYTES"


def request_from_json(doc: Any, model: str) -> InferRequest:
    """The protocol's JSON inference request, every element checked against its datatype."""
    if type(doc) is not dict:
        raise invalid([{"field": "(body)", "rule": 'must be a JSON object with "inputs"'}], model)
    errors: list[dict[str, str]] = []
    for key in doc:
        if key not in ("id", "parameters", "inputs", "outputs"):
            errors.append(
                {
                    "field": safe_text(str(key))[:128],
                    "rule": "unknown field; a request has id, parameters, inputs, outputs",
                }
            )
    ident = doc.get("id", "")
    if type(ident) is not str:
        errors.append({"field": "id", "rule": "must be a string"})
        ident = ""
    parameters = doc.get("parameters", {})
    if type(parameters) is not dict:
        errors.append({"field": "parameters", "rule": "must be an object"})
        parameters = {}
    raw_inputs = doc.get("inputs")
    if type(raw_inputs) is not list:
        errors.append({"field": "inputs", "rule": "is required: a list of tensors"})
        raw_inputs = []
    tensors = []
    for i, raw in enumerate(raw_inputs):
        tensor = _tensor_from_json(f"inputs[{i}]", raw, errors)
        if tensor is not None:
            tensors.append(tensor)
    outputs = []
    raw_outputs = doc.get("outputs", [])
    if type(raw_outputs) is not list:
        errors.append({"field": "outputs", "rule": "must be a list of {name}"})
        raw_outputs = []
    for i, out in enumerate(raw_outputs):
        if type(out) is not dict or type(out.get("name")) is not str:
            errors.append({"field": f"outputs[{i}]", "rule": "must be an object with a name"})
        else:
            outputs.append(out["name"])
    if errors:
        raise invalid(errors, model)
    return InferRequest(tensors, ident[:128], outputs, parameters)


def _tensor_from_json(where: str, raw: Any, errors: list[dict[str, str]]) -> Tensor | None:
    if type(raw) is not dict:
        errors.append(
            {"field": where, "rule": "must be an object with name, shape, datatype, data"}
        )
        return None
    name, datatype, data = raw.get("name"), raw.get("datatype"), raw.get("data")
    shape: Any = raw.get("shape")
    params = raw.get("parameters", {})
    if type(params) is not dict:
        errors.append({"field": f"{where}.parameters", "rule": "must be an object"})
        return None
    if "binary_data_size" in params:
        errors.append(
            {
                "field": f"{where}.parameters.binary_data_size",
                "rule": "the binary tensor extension is not supported; send the data as JSON",
            }
        )
        return None
    if type(name) is not str or not name:
        errors.append({"field": f"{where}.name", "rule": "is required: a string"})
        return None
    if not check_datatype(where, datatype, errors):
        return None
    if type(data) is not list:
        errors.append({"field": f"{where}.data", "rule": "is required: a list of elements"})
        return None
    flat = _flatten(data)
    if flat is None:
        errors.append({"field": f"{where}.data", "rule": "nested lists must be regular"})
        return None
    if not check_shape(where, shape, len(flat), errors):
        return None
    tensor = Tensor(name, str(datatype), shape, flat)  # both checked above
    if not check_elements(where, tensor, errors):
        return None
    return tensor


def _flatten(data: list[Any]) -> list[Any] | None:
    """Row-major elements of (possibly nested) ``data``; None if it nests irregularly."""
    if not data or type(data[0]) is not list:
        return data if list not in set(map(type, data)) else None
    flat: list[Any] = []
    for item in data:
        if type(item) is not list:
            return None
        inner = _flatten(item)
        if inner is None:
            return None
        flat.extend(inner)
    return flat

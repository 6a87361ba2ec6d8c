"""Where an endpoint meets its model: the request fields and the columns the model is fed.

Worked out once when a runtime is built (never per request), from the endpoint
definition, the online features it reads and what the loaded model names as its inputs
(:attr:`~modelward.serving.models.LoadedModel.inputs`):

* ``request: from_signature`` takes the request fields from the model's MLflow signature:
  every input the online features do not provide, typed by the signature;
* a model that names its inputs is fed exactly those columns, in its order, whatever the
  request holds beside them;
* a model that names nothing is fed ``model_inputs``, or by default the request fields
  that are neither entity keys nor PII, then the features.

PII fields (``pii_fields``) never reach a model unless its signature names them. Every
mismatch is a :class:`~modelward.errors.ConfigError` naming the endpoint, the setting and
the columns, so the endpoint serves its fallback and ``/readyz`` says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelward.errors import ConfigError
from modelward.serving.endpoints import FROM_SIGNATURE, EndpointSpec, FieldType
from modelward.serving.models import LoadedModel
from modelward.serving.schema import RequestSchema

__all__ = ["UncheckedRows", "model_columns", "pii_fields", "request_fields"]


def _refuse(spec: EndpointSpec, setting: str, message: str) -> ConfigError:
    return ConfigError(f"endpoint {spec.name!r}: {setting}: {message}", field=setting)


def request_fields(
    spec: EndpointSpec, model: LoadedModel | None, feature_names: Sequence[str]
) -> dict[str, FieldType]:
    """The request fields and types: as written, or from the model's signature."""
    if spec.request != FROM_SIGNATURE:
        assert not isinstance(spec.request, str)
        return dict(spec.request)
    ref = f"{model.name}@{model.version}" if model is not None else spec.model
    if model is None or model.inputs is None or all(i.type is None for i in model.inputs):
        # (names without types come from feature_names_in_: no signature either)
        raise _refuse(
            spec,
            "request",
            f"from_signature, but model {ref} has no MLflow signature naming its inputs; "
            "log it with a signature or write the request fields",
        )
    provided = set(feature_names)
    fields: dict[str, FieldType] = {}
    untyped = []
    for column in model.inputs:
        if column.name in provided:
            continue
        if column.field_type is None:
            untyped.append(f"{column.name} ({column.type or 'no type'})")
        else:
            fields[column.name] = column.field_type
    if untyped:
        raise _refuse(
            spec,
            "request",
            f"from_signature: the signature of {ref} gives {', '.join(untyped)}, which no "
            "request field type (float, int, bool, string) carries",
        )
    if not fields:
        raise _refuse(spec, "request", f"from_signature: features provide every input of {ref}")
    for setting, names in (("entity_keys", spec.entity_keys), ("pii_fields", spec.pii_fields)):
        unknown = [n for n in names if n not in fields]
        if unknown:
            raise _refuse(
                spec,
                setting,
                f"{', '.join(unknown)} not among the request fields taken from the "
                f"signature of {ref} ({', '.join(fields)}); write the request fields instead",
            )
    return fields


def pii_fields(
    spec: EndpointSpec, request: Mapping[str, FieldType], contract_pii: Iterable[str] = ()
) -> list[str]:
    """The endpoint's PII: its ``pii_fields``, and the request fields that the data
    contracts behind the served version mark as PII."""
    marked = set(contract_pii)
    return [*spec.pii_fields, *(f for f in request if f in marked and f not in spec.pii_fields)]


def model_columns(
    spec: EndpointSpec,
    request: Mapping[str, FieldType],
    feature_names: Sequence[str],
    model: LoadedModel | None = None,
    pii: Iterable[str] | None = None,
) -> list[str]:
    """The columns the model is fed, in order (see the module docstring); ``pii``
    defaults to the endpoint's ``pii_fields``."""
    available = set(request) | set(feature_names)
    pii = set(spec.pii_fields if pii is None else pii)
    if model is not None and model.inputs is not None:
        columns = [i.name for i in model.inputs]
        if spec.model_inputs is not None and set(spec.model_inputs) != set(columns):
            raise _refuse(
                spec,
                "model_inputs",
                f"{', '.join(spec.model_inputs)} differ from the inputs model "
                f"{model.name}@{model.version} names ({', '.join(columns)}); leave "
                "model_inputs out to feed what the model names",
            )
        absent = [c for c in columns if c not in available]
        if absent:
            raise _refuse(
                spec,
                "request",
                f"model {model.name}@{model.version} reads {', '.join(absent)}, which is "
                "neither a request field nor an online feature of the endpoint",
            )
        return columns
    if spec.model_inputs is not None:
        leaked = [c for c in spec.model_inputs if c in pii]
        if leaked:
            raise _refuse(
                spec,
                "model_inputs",
                f"{', '.join(leaked)} is PII (pii_fields, or its data contract) and "
                "reaches a model only when the model's signature names it",
            )
        absent = [c for c in spec.model_inputs if c not in available]
        if absent:
            raise _refuse(
                spec,
                "model_inputs",
                f"{', '.join(absent)} is neither a request field nor an online feature",
            )
        return list(spec.model_inputs)
    keys = set(spec.entity_keys)
    return [f for f in request if f not in keys and f not in pii] + [
        f for f in feature_names if f not in request
    ]


class UncheckedRows(RequestSchema):
    """The request check of a ``from_signature`` endpoint whose model could not be loaded:
    its fields are unknown, so only the envelope (``{"inputs": row or [rows]}``) is checked
    while the fallback answers."""

    def __init__(self, endpoint: str, max_rows: int) -> None:
        super().__init__(endpoint, {}, max_rows)

    def validate(self, data: Any) -> tuple[list[dict[str, Any]], bool]:
        if type(data) is dict and len(data) == 1 and "inputs" in data:
            inputs = data["inputs"]
            if type(inputs) is dict:
                return [inputs], False
            if (
                type(inputs) is list
                and 0 < len(inputs) <= self.max_rows
                and all(type(r) is dict for r in inputs)
            ):
                return inputs, True
        return super().validate(data)  # names what is wrong with the envelope

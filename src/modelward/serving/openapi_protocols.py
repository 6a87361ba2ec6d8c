"""The OpenAPI paths of the protocols mounted on the gateway: OIP v2 and MLflow scoring.

Like the native predict route, each served endpoint gets its own operations, with request
schemas from its fields (:func:`~modelward.serving.openapi.row_schema`), so a client
generator or schemathesis sees what the gateway accepts. Each protocol answers errors in
its own shape, and the document says so: the Open Inference Protocol's
``{"error": "..."}`` and MLflow's ``{"error_code", "message"}``, both
``application/json``, with the status the native route would give.

Two rules of these protocols are beyond JSON Schema: a tensor's element count must be
the product of its shape (and all tensors hold the same rows), and an MLflow
``dataframe_split`` row or a column of ``inputs`` must have one value per column. The
schemas below say everything else exactly; a body that breaks one of those two rules is
answered 422 naming the tensor or the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelward.serving.oip import DATATYPES, OUTPUT, tensor_datatype
from modelward.serving.openapi import field_example, field_schema, row_schema

if TYPE_CHECKING:
    from modelward.serving.endpoints import FieldType
    from modelward.serving.runtime import EndpointRuntime

__all__ = ["mlflow_paths", "oip_paths"]

_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_REQUEST_ID = {"X-Request-Id": {"schema": {"type": "string"}}}
_ALLOWED_TEXT = {"type": "string", "maxLength": 128}


def _error(description: str, schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema, "example": example}},
    }


def _json(description: str, schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {
        "description": description,
        "headers": _REQUEST_ID,
        "content": {"application/json": content},
    }


# --- Open Inference Protocol v2 -------------------------------------------------------------

_OIP_ERROR = {
    "title": "OipError",
    "type": "object",
    "description": "The protocol's error: what failed and the rule it broke.",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_OIP_ERROR_EXAMPLE = {
    "error": "inference request to model 'churn' is invalid: inputs[0].data holds 3 "
    "elements but shape [1, 4] says 4"
}


def _oip_error(description: str) -> dict[str, Any]:
    return _error(description, _OIP_ERROR, _OIP_ERROR_EXAMPLE)


_OIP_MODEL_ERRORS = {
    "401": _oip_error("No token, or a token that is not valid."),
    "403": _oip_error("The token's identity is not among the endpoint's callers."),
    "404": _oip_error("The model (endpoint) or its version is not served here."),
    "503": _oip_error("Tokens cannot be checked right now."),
}
_TENSOR_METADATA = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}
_MODEL_METADATA = {
    "title": "OipModelMetadata",
    "type": "object",
    "required": ["name", "platform", "inputs", "outputs"],
    "properties": {
        "name": {"type": "string"},
        "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": _TENSOR_METADATA},
        "outputs": {"type": "array", "items": _TENSOR_METADATA},
    },
}
_MODEL_READY = {
    "type": "object",
    "required": ["name", "ready"],
    "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
}
#: a tensor element, or a nested list of them (row-major)
_ELEMENT: dict[str, Any] = {"type": ["number", "integer", "boolean", "string", "array"]}
_RESPONSE = {
    "title": "OipInferenceResponse",
    "type": "object",
    "required": ["model_name", "outputs"],
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "parameters": {
            "type": "object",
            "description": "`request_id` (the gateway's), `degraded` (the fallback "
            "answered), and `reason` when degraded.",
            "properties": {
                "request_id": {"type": "string"},
                "degraded": {"type": "boolean"},
                "reason": {"type": "string"},
            },
        },
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "datatype", "shape", "data"],
                "properties": {
                    "name": {"const": OUTPUT},
                    "datatype": {"enum": ["BOOL", "INT64", "FP64", "BYTES"]},
                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                    "data": {"type": "array"},
                },
            },
        },
    },
}


def _infer_request(fields: Mapping[str, FieldType]) -> dict[str, Any]:
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape", "data"],
        "description": "One tensor per input, named like it, of shape [n] or [n, 1]; or a "
        f"single [n, {len(fields)}] tensor whose columns are the inputs in the order "
        f"{', '.join(fields)}.",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "datatype": {"enum": list(DATATYPES)},
            "shape": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 1,
                "maxItems": 2,
            },
            "data": {"type": "array", "items": _ELEMENT},
            "parameters": {
                "type": "object",
                "description": "Accepted and unused; `binary_data_size` (the binary "
                "extension) is refused.",
                "not": {"required": ["binary_data_size"]},
            },
        },
    }
    return {
        "title": "OipInferenceRequest",
        "type": "object",
        "required": ["inputs"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": tensor, "minItems": 1},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"const": OUTPUT}},
                },
            },
        },
    }


def _infer_example(fields: Mapping[str, FieldType]) -> dict[str, Any]:
    return {
        "id": "req-1",
        "inputs": [
            {
                "name": name,
                "datatype": tensor_datatype(kind),
                "shape": [1],
                "data": [field_example(kind)],
            }
            for name, kind in fields.items()
        ],
    }


def _oip_model_paths(runtime: EndpointRuntime) -> dict[str, Any]:
    name = runtime.spec.name
    fields = runtime.schema.fields
    version = runtime.model.version
    infer = {
        "summary": f"Score with model {name!r} (the endpoint), in the protocol's tensors",
        "tags": ["oip"],
        "security": _BEARER,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _infer_request(fields),
                    "example": _infer_example(fields),
                }
            },
        },
        "responses": {
            "200": _json("One output tensor, `prediction`, a value per row.", _RESPONSE),
            "400": _oip_error("The body is not JSON."),
            **_OIP_MODEL_ERRORS,
            "408": _oip_error("The body did not arrive within `body_timeout_s`."),
            "413": _oip_error("The body is over `max_body_bytes`."),
            "422": _oip_error(
                "A tensor breaks a rule (shape against data, datatype, an unknown input, "
                "a row value): the message names it."
            ),
            "503": _oip_error(
                "Overloaded, the model and its fallback cannot answer, or tokens cannot be checked."
            ),
        },
    }
    metadata = {
        "summary": f"Metadata of model {name!r}: its inputs in order, its output",
        "tags": ["oip"],
        "security": _BEARER,
        "responses": {"200": _json("The model's metadata.", _MODEL_METADATA), **_OIP_MODEL_ERRORS},
    }
    ready = {
        "summary": f"Whether model {name!r} is loaded and answers",
        "tags": ["oip"],
        "security": _BEARER,
        "responses": {
            "200": _json("Ready.", _MODEL_READY),
            **_OIP_MODEL_ERRORS,
            "503": _json(
                "Not ready (the fallback answers), or tokens cannot be checked.",
                {"oneOf": [_MODEL_READY, _OIP_ERROR]},
            ),
        },
    }
    bases = [f"/v2/models/{name}"]
    if version:
        bases.append(f"/v2/models/{name}/versions/{version}")
    paths: dict[str, Any] = {}
    for i, base in enumerate(bases):
        suffix = "" if i == 0 else "_version"
        ident = f"{name}{suffix}"
        paths[base] = {"get": {"operationId": f"oip_model_metadata_{ident}", **metadata}}
        paths[f"{base}/ready"] = {"get": {"operationId": f"oip_model_ready_{ident}", **ready}}
        paths[f"{base}/infer"] = {"post": {"operationId": f"oip_infer_{ident}", **infer}}
    return paths


def oip_paths(runtimes: Mapping[str, EndpointRuntime]) -> dict[str, Any]:
    """The ``/v2`` paths: server metadata and health, and each endpoint as a model."""
    live = {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}}
    ready = {
        "type": "object",
        "required": ["ready"],
        "properties": {"ready": {"type": "boolean"}},
    }
    server = {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    }
    paths: dict[str, Any] = {
        "/v2": {
            "get": {
                "operationId": "oip_server_metadata",
                "summary": "The server's name, version and protocol extensions (no token)",
                "tags": ["oip"],
                "responses": {"200": _json("Server metadata.", server)},
            }
        },
        "/v2/health/live": {
            "get": {
                "operationId": "oip_server_live",
                "summary": "Liveness (no token)",
                "tags": ["oip"],
                "responses": {"200": _json("Alive.", live)},
            }
        },
        "/v2/health/ready": {
            "get": {
                "operationId": "oip_server_ready",
                "summary": "Readiness: every endpoint loaded (no token)",
                "tags": ["oip"],
                "responses": {
                    "200": _json("Ready.", ready),
                    "503": _json("Not ready: starting, or an endpoint failed to load.", ready),
                },
            }
        },
    }
    for _, runtime in sorted(runtimes.items()):
        paths.update(_oip_model_paths(runtime))
    return paths


# --- MLflow scoring -----------------------------------------------------------------------

_MLFLOW_ERROR = {
    "title": "MlflowError",
    "type": "object",
    "description": "MLflow's scoring error; `errors` lists each invalid field of a 422.",
    "required": ["error_code", "message"],
    "properties": {
        "error_code": {"type": "string"},
        "message": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "rule"],
                "properties": {"field": {"type": "string"}, "rule": {"type": "string"}},
            },
        },
    },
}
_MLFLOW_ERROR_EXAMPLE = {
    "error_code": "INVALID_PARAMETER_VALUE",
    "message": "request to endpoint 'churn' is invalid: dataframe_split[0].tenure is required",
    "errors": [{"field": "dataframe_split[0].tenure", "rule": "is required"}],
}


def _mlflow_error(description: str) -> dict[str, Any]:
    return _error(description, _MLFLOW_ERROR, _MLFLOW_ERROR_EXAMPLE)


def _scoring_request(runtime: EndpointRuntime) -> dict[str, Any]:
    fields = runtime.schema.fields
    rows = runtime.spec.max_rows
    row = row_schema(fields)
    positional = {
        "type": "array",
        "prefixItems": [field_schema(kind) for kind in fields.values()],
        "items": False,
        "minItems": len(fields),
        "maxItems": len(fields),
        "description": f"A row's values in the order {', '.join(fields)}.",
    }
    shapes: list[dict[str, Any]] = [row, positional]
    if len(fields) == 1:  # a one-field endpoint also takes bare values
        shapes.append(field_schema(next(iter(fields.values()))))
    listed = {"type": "array", "items": {"oneOf": shapes}, "minItems": 1, "maxItems": rows}
    columns = {
        "type": "object",
        "description": "Columns: each field's values, all lists of one length.",
        "properties": {
            name: {"type": "array", "items": field_schema(kind), "minItems": 1, "maxItems": rows}
            for name, kind in fields.items()
        },
        "required": list(fields),
        "additionalProperties": False,
    }
    layouts = {
        "dataframe_split": {
            "type": "object",
            "required": ["data"],
            "description": "pandas' split orient; `columns` defaults to the endpoint's field "
            "order, `index` is ignored.",
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array"}, "minItems": 1},
            },
        },
        "dataframe_records": {"type": "array", "items": row, "minItems": 1, "maxItems": rows},
        "instances": {"oneOf": [listed, columns]},
        "inputs": {"oneOf": [listed, columns]},
    }
    return {
        "title": "MlflowScoringRequest",
        "type": "object",
        "description": "Exactly one of the four layouts `mlflow models serve` takes.",
        "properties": {**layouts, "params": {"type": "object"}},
        "additionalProperties": False,
        "oneOf": [{"required": [layout]} for layout in layouts],
    }


def _invocations(runtime: EndpointRuntime, ident: str) -> dict[str, Any]:
    fields = runtime.schema.fields
    example = {
        "dataframe_split": {
            "columns": list(fields),
            "data": [[field_example(kind) for kind in fields.values()]],
        }
    }
    return {
        "post": {
            "operationId": f"mlflow_invocations_{ident}",
            "summary": f"Score with endpoint {runtime.spec.name!r} in MLflow's scoring format",
            "tags": ["mlflow"],
            "security": _BEARER,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _scoring_request(runtime), "example": example}
                },
            },
            "responses": {
                "200": _json(
                    "One prediction per row, as MLflow answers.",
                    {
                        "type": "object",
                        "required": ["predictions"],
                        "properties": {"predictions": {"type": "array"}},
                    },
                    {"predictions": [0.5]},
                ),
                "400": _mlflow_error("The body is not JSON, or is CSV (only JSON is taken)."),
                "401": _mlflow_error("No token, or a token that is not valid."),
                "403": _mlflow_error("The token's identity is not among the endpoint's callers."),
                "404": _mlflow_error("The endpoint is not served here (removed meanwhile)."),
                "408": _mlflow_error("The body did not arrive within `body_timeout_s`."),
                "413": _mlflow_error("The body is over `max_body_bytes`."),
                "422": _mlflow_error("A column is unknown, missing, or of the wrong type."),
                "503": _mlflow_error(
                    "Overloaded, the model and its fallback cannot answer, or tokens cannot "
                    "be checked."
                ),
            },
        }
    }


def mlflow_paths(runtimes: Mapping[str, EndpointRuntime], default: str) -> dict[str, Any]:
    """MLflow's scoring paths; ``/invocations`` only when ``default`` names a served one."""
    health = {
        "description": "An empty body (a newline, as MLflow's server sends): 200 when "
        "every endpoint is loaded, 503 otherwise.",
    }
    paths: dict[str, Any] = {
        path: {
            "get": {
                "operationId": f"mlflow_{path.strip('/')}",
                "summary": "Readiness, as `mlflow models serve` answers it (no token)",
                "tags": ["mlflow"],
                "responses": {"200": health, "503": health},
            }
        }
        for path in ("/ping", "/health")
    }
    paths["/version"] = {
        "get": {
            "operationId": "mlflow_version",
            "summary": "The server's version, as plain text (no token)",
            "tags": ["mlflow"],
            "responses": {
                "200": {
                    "description": "The modelward version.",
                    "content": {"text/plain": {"schema": _ALLOWED_TEXT}},
                }
            },
        }
    }
    if default in runtimes:
        paths["/invocations"] = _invocations(runtimes[default], "default")
    for name, runtime in sorted(runtimes.items()):
        paths[f"/v1/endpoints/{name}/invocations"] = _invocations(runtime, name)
    return paths

"""The serving layer's OpenAPI documents: the gateway's (``GET /openapi.json``) and the error
answers of the feature server's.

The gateway's document is built from the endpoints it serves: each endpoint gets its own
``POST /v1/endpoints/{name}/predict`` operation whose request schema is the endpoint's
request fields (their types and the 64-bit and finite-number rules the gateway enforces,
see :mod:`~modelward.serving.schema`), so a client generator or schemathesis sees exactly
what the gateway accepts. The routes mounted on the gateway (the Open Inference Protocol,
MLflow's scoring routes) add their own paths, built from the same endpoints
(:mod:`~modelward.serving.openapi_protocols`). It is rebuilt when the served set changes
(a refresh swaps in new runtimes) or a route is mounted, never per request.

Errors on both servers are ``application/problem+json`` (RFC 9457), the document of
:mod:`modelward.errors`; :data:`PROBLEM_SCHEMA` describes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from modelward.errors import PROBLEM_JSON

if TYPE_CHECKING:
    from modelward.serving.runtime import EndpointRuntime

__all__ = [
    "BEARER",
    "PROBLEM_SCHEMA",
    "GatewayDocument",
    "PathSource",
    "add_problem_answers",
    "field_example",
    "field_schema",
    "gateway_openapi",
    "problem_answer",
    "row_schema",
]


class PathSource(Protocol):
    """Something that declares OpenAPI paths for the served endpoints (a mounted route)."""

    def openapi_paths(self, runtimes: Mapping[str, EndpointRuntime]) -> dict[str, Any]: ...


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An error (RFC 9457). `error` names the modelward error class; `errors` "
    "lists each invalid field of a 422; an error's structured evidence follows as further "
    "top-level members.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "error": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "rule"],
                "properties": {"field": {"type": "string"}, "rule": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_EXAMPLE = {
    "type": "about:blank",
    "title": "request does not match the endpoint schema",
    "status": 422,
    "detail": "request to endpoint 'churn' is invalid: inputs.tenure must be a finite number",
    "error": "RequestInvalid",
    "request_id": "3f9a1c2b7d01",
    "errors": [{"field": "inputs.tenure", "rule": "must be a finite number"}],
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
#: the security scheme of every operation that needs a token
BEARER = {"bearer": {"type": "http", "scheme": "bearer", "description": "`modelward tokens issue`"}}
_INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
# the largest finite double: JSON numbers past it are infinities, which the gateway refuses
_FINITE = {"type": "number", "minimum": -1.7976931348623157e308, "maximum": 1.7976931348623157e308}
_FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "float": _FINITE,
    "int": _INT64,
    "bool": {"type": "boolean"},
    "string": {"type": "string"},
}


def problem_answer(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    """An OpenAPI response entry for an error the server answers with a problem document."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF, "example": _EXAMPLE}},
    }
    if retry_after:
        answer["headers"] = _RETRY_AFTER
    return answer


def add_problem_answers(spec: dict[str, Any], answers: Mapping[str, dict[str, Any]]) -> None:
    """Declare ``answers`` (status -> entry) on every operation of ``spec``, and replace
    FastAPI's own 422 entry (``application/json``, another shape) by the real one."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            operation.setdefault("responses", {}).update(answers)


def field_schema(kind: str) -> dict[str, Any]:
    """The JSON schema of one value of a request field of type ``kind``."""
    return _FIELD_SCHEMAS[kind]


def row_schema(fields: Mapping[str, str]) -> dict[str, Any]:
    """The JSON schema of one row of an endpoint with request ``fields``: exactly them."""
    return {
        "type": "object",
        "properties": {name: _FIELD_SCHEMAS[kind] for name, kind in fields.items()},
        "required": list(fields),
        "additionalProperties": False,
    }


_ANSWER = {
    "type": "object",
    "required": ["request_id", "endpoint", "model", "model_version", "degraded"],
    "properties": {
        "request_id": {"type": "string"},
        "endpoint": {"type": "string"},
        "model": {"type": "string"},
        "model_version": {"type": ["string", "null"]},
        "degraded": {
            "type": "boolean",
            "description": "The fallback answered (some) rows; `reason` says why.",
        },
        "reason": {"type": "string"},
        "prediction": {"description": "The model's output for the one row sent."},
        "predictions": {"type": "array", "description": "One output per row sent."},
        "degraded_rows": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"row": {"type": "integer"}, "reason": {"type": "string"}},
            },
        },
    },
}


def _predict_operation(runtime: EndpointRuntime) -> dict[str, Any]:
    spec = runtime.spec
    row = row_schema(runtime.schema.fields)
    example = {name: field_example(kind) for name, kind in runtime.schema.fields.items()}
    body = {
        "type": "object",
        "required": ["inputs"],
        "additionalProperties": False,
        "properties": {
            "inputs": {
                "oneOf": [
                    row,
                    {"type": "array", "items": row, "minItems": 1, "maxItems": spec.max_rows},
                ],
                "description": "One row, or a batch of up to "
                f"{spec.max_rows} rows (answered with `predictions`).",
            }
        },
    }
    version = runtime.model.version or None
    return {
        "operationId": f"predict_{spec.name}",
        "summary": f"Score with endpoint {spec.name!r} (model {spec.model})",
        "tags": ["predict"],
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": body, "example": {"inputs": example}}},
        },
        "responses": {
            "200": {
                "description": "The prediction; `degraded` when the fallback answered.",
                "headers": {"X-Request-Id": {"schema": {"type": "string"}}},
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/Answer"},
                        "example": {
                            "request_id": "3f9a1c2b7d01",
                            "endpoint": spec.name,
                            "model": runtime.model.name,
                            "model_version": version,
                            "degraded": False,
                            "prediction": 0.5,
                        },
                    }
                },
            },
            "400": problem_answer("The body is not JSON, or not an object."),
            "401": problem_answer("No token, or a token that is not valid."),
            "403": problem_answer("The token's identity is not among the endpoint's callers."),
            "404": problem_answer("The endpoint is not served here (removed meanwhile)."),
            "408": problem_answer("The body did not arrive within `body_timeout_s`."),
            "413": problem_answer("The body is over `max_body_bytes`."),
            "422": problem_answer("A field breaks its rule: `errors` names each."),
            "503": problem_answer(
                "Overloaded, the model and its fallback cannot answer, or tokens cannot be "
                "checked.",
                retry_after=True,
            ),
        },
    }


def field_example(kind: str) -> Any:
    """A valid example value of a request field of type ``kind``."""
    return {"float": 0.5, "int": 1, "bool": True, "string": "a"}[kind]


def gateway_openapi(
    runtimes: Mapping[str, EndpointRuntime], mounted: Sequence[PathSource] = ()
) -> dict[str, Any]:
    """The gateway's OpenAPI 3.1 document for the endpoints in ``runtimes``, with the
    paths of the ``mounted`` routes."""
    paths: dict[str, Any] = {
        f"/v1/endpoints/{name}/predict": {"post": _predict_operation(rt)}
        for name, rt in sorted(runtimes.items())
    }
    for source in mounted:
        paths.update(source.openapi_paths(runtimes))
    json_ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    paths["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Liveness: the process answers.",
            "tags": ["health"],
            "responses": {
                "200": {
                    "description": "Alive.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["status"],
                                "properties": {"status": {"const": "alive"}},
                            }
                        }
                    },
                }
            },
        }
    }
    readiness = {
        "type": "object",
        "required": ["status", "endpoints", "problems"],
        "properties": {
            "status": {"enum": ["ready", "not ready"]},
            "endpoints": {"type": "object"},
            "problems": {"type": "object", "additionalProperties": {"type": "string"}},
            "warnings": {"type": "object", "additionalProperties": {"type": "string"}},
            "startup_s": {"type": "number"},
            "ready_after_load_s": {"type": "number"},
        },
    }
    readiness_content = {"application/json": {"schema": readiness}}
    paths["/readyz"] = {
        "get": {
            "operationId": "readyz",
            "summary": "Readiness: endpoints loaded, database and feature store reachable.",
            "tags": ["health"],
            "responses": {
                "200": {"description": "Ready.", "content": readiness_content},
                "503": {
                    "description": "Not ready: `problems` says why.",
                    "content": readiness_content,
                },
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics.",
            "tags": ["health"],
            "responses": {
                "200": {
                    "description": "The Prometheus text format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "tags": ["health"],
            "responses": {"200": json_ok},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modelward gateway",
            "version": "1",
            "description": "Online predictions. Each endpoint's operation carries its own "
            "request schema, from its definition. `Authorization: Bearer <token>` on every "
            "predict call; errors are `application/problem+json` (RFC 9457). The Open "
            "Inference Protocol (`/v2`) and MLflow's scoring routes (`/invocations`) answer "
            "errors in their own protocol's shape.",
        },
        "paths": paths,
        "components": {
            "schemas": {"Problem": PROBLEM_SCHEMA, "Answer": _ANSWER},
            "securitySchemes": BEARER,
        },
    }


class GatewayDocument:
    """The gateway's document as bytes, rebuilt only when the served runtimes change (or
    :meth:`forget` is called: a route was mounted). ``mounted`` is the gateway's own list
    of mounted routes, read at each rebuild."""

    def __init__(self, mounted: Sequence[PathSource] = ()) -> None:
        self._mounted = mounted
        self._made_for: object = None
        self._body = b""

    def forget(self) -> None:
        self._made_for = None

    def render(self, runtimes: Mapping[str, EndpointRuntime]) -> bytes:
        # a refresh swaps in a new mapping: identity says whether this one was rendered
        if runtimes is not self._made_for:
            self._body = orjson.dumps(gateway_openapi(runtimes, self._mounted))
            self._made_for = runtimes
        return self._body

"""MLflow's scoring protocol on the gateway: what ``mlflow models serve`` answers.

``POST /invocations`` scores the gateway's one endpoint (or ``serving.default_endpoint``
when it serves several); ``POST /v1/endpoints/{name}/invocations`` scores a named one.
The body is one of MLflow's JSON layouts, exactly one key of:

- ``dataframe_split``: ``{"columns": [...], "data": [[...], ...]}`` (``index`` ignored);
- ``dataframe_records``: ``[{"col": value, ...}, ...]``;
- ``instances`` or ``inputs``: a list of records, a list of rows in the endpoint's field
  order (or of values, for a one-field endpoint), or columns ``{"col": [values, ...]}``;

plus an optional ``params`` object (accepted, unused: endpoints take no parameters). The
answer is ``{"predictions": [...]}``; ``GET /ping`` and ``GET /health`` answer 200 once
the gateway is ready, ``GET /version`` the modelward version. Rows meet the endpoint's
request schema like any native request: a wrong column name or type is a 422 naming the
column. Tokens and callers are checked as on the native route; errors come in MLflow's
``{"error_code", "message"}`` shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from modelward import __version__
from modelward.errors import (
    MalformedRequest,
    MethodNotAllowed,
    ModelwardError,
    NotFound,
    RequestInvalid,
)
from modelward.serving.dialect import JSON, HttpRequest, Parsed
from modelward.serving.gateway import Gateway
from modelward.serving.openapi_protocols import mlflow_paths
from modelward.serving.problems import respond
from modelward.serving.runtime import EndpointRuntime
from modelward.serving.schema import decode, safe_text

__all__ = ["MLFLOW", "MlflowDialect", "MlflowRoutes", "rows_from_mlflow"]

_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_LAYOUTS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_PREFIX = "/v1/endpoints/"
_SUFFIX = "/invocations"
#: MLflow's error codes by HTTP status (its scoring server says BAD_REQUEST for input)
_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "REQUEST_LIMIT_EXCEEDED",
    422: "INVALID_PARAMETER_VALUE",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}


def rows_from_mlflow(doc: Any, columns: list[str]) -> tuple[str, list[Any]]:
    """``(layout, rows)`` of an MLflow scoring body; rows are dicts unless malformed.

    ``columns`` (the endpoint's fields, in order) name the values of positional rows."""
    if type(doc) is not dict:
        raise MalformedRequest(
            f"the request body must be a JSON object with one of {', '.join(_LAYOUTS)}"
        )
    given = [k for k in _LAYOUTS if k in doc]
    unknown = [k for k in doc if k not in _LAYOUTS and k != "params"]
    if len(given) != 1 or unknown:
        errors = [
            {"field": safe_text(str(k))[:128], "rule": "unknown field of an MLflow scoring request"}
            for k in unknown
        ]
        if len(given) != 1:
            errors.append(
                {
                    "field": "(body)",
                    "rule": f"must hold exactly one of {', '.join(_LAYOUTS)}, not {len(given)}",
                }
            )
        raise _invalid(errors)
    if "params" in doc and type(doc["params"]) is not dict:
        raise _invalid([{"field": "params", "rule": "must be an object"}])
    layout = given[0]
    value = doc[layout]
    if layout == "dataframe_split":
        return layout, _split(value, columns)
    if layout == "dataframe_records":
        if type(value) is not list:
            raise _invalid([{"field": layout, "rule": "must be a list of records"}])
        return layout, value
    if type(value) is dict:
        return layout, _columnar(layout, value)
    if type(value) is not list:
        raise _invalid(
            [{"field": layout, "rule": "must be a list of rows or an object of columns"}]
        )
    return layout, [_positional(layout, i, row, columns) for i, row in enumerate(value)]


def _split(value: Any, columns: list[str]) -> list[Any]:
    if type(value) is not dict or type(value.get("data")) is not list:
        raise _invalid(
            [{"field": "dataframe_split", "rule": 'must be {"columns": [...], "data": [[...]]}'}]
        )
    names = value.get("columns", columns)
    if type(names) is not list or not all(type(c) is str for c in names):
        raise _invalid([{"field": "dataframe_split.columns", "rule": "must be a list of names"}])
    rows = []
    for i, row in enumerate(value["data"]):
        if type(row) is not list or len(row) != len(names):
            raise _invalid(
                [
                    {
                        "field": f"dataframe_split.data[{i}]",
                        "rule": f"must be a list of {len(names)} values, one per column",
                    }
                ]
            )
        rows.append(dict(zip(names, row, strict=True)))
    return rows


def _columnar(layout: str, value: dict[str, Any]) -> list[Any]:
    lengths = {len(v) if type(v) is list else -1 for v in value.values()}
    if -1 in lengths or len(lengths) > 1:
        raise _invalid([{"field": layout, "rule": "columns must be lists of the same length"}])
    names = list(value)
    return [dict(zip(names, vals, strict=True)) for vals in zip(*value.values(), strict=True)]


def _positional(layout: str, i: int, row: Any, columns: list[str]) -> Any:
    if type(row) is dict:
        return row
    if type(row) is not list:
        if len(columns) == 1:
            return {columns[0]: row}
        row = [row]
    if len(row) != len(columns):
        raise _invalid(
            [
                {
                    "field": f"{layout}[{i}]",
                    "rule": f"a positional row needs {len(columns)} values "
                    f"({', '.join(columns)}), not {len(row)}",
                }
            ]
        )
    return dict(zip(columns, row, strict=True))


def _invalid(errors: list[dict[str, str]]) -> RequestInvalid:
    shown = "; ".join(f"{e['field']} {e['rule']}" for e in errors[:10])
    return RequestInvalid(f"the scoring request is invalid: {shown}", errors=errors[:100])


def error_body(exc: ModelwardError) -> bytes:
    doc: dict[str, Any] = {
        "error_code": _CODES.get(exc.http_status, "INTERNAL_ERROR"),
        "message": exc.message,
    }
    errors = exc.details.get("errors")
    if errors:
        doc["errors"] = errors
    return orjson.dumps(doc, default=str)


class MlflowDialect:
    """MLflow's scoring body in, ``{"predictions": [...]}`` out."""

    headers = JSON

    def parse(self, runtime: EndpointRuntime, body: bytes) -> Parsed:
        columns = list(runtime.schema.fields)
        layout, rows = rows_from_mlflow(decode(body), columns)
        try:
            valid, _ = runtime.schema.validate({"inputs": rows})
        except RequestInvalid as exc:  # name the rows by the layout the client sent
            errors = [
                {**e, "field": e["field"].replace("inputs", layout, 1)}
                for e in exc.details.get("errors", [])
            ]
            message = exc.message.replace("inputs[", f"{layout}[").replace(
                " inputs ", f" {layout} "
            )
            raise RequestInvalid(message, errors=errors) from None
        return Parsed(valid, True)

    def render(self, payload: dict[str, Any], parsed: Parsed) -> bytes:
        return orjson.dumps({"predictions": payload["predictions"]})

    def problem(
        self, exc: ModelwardError, request_id: str
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        return error_body(exc), JSON


MLFLOW = MlflowDialect()


class MlflowRoutes:
    """``/invocations``, ``/v1/endpoints/{name}/invocations``, ``/ping``, ``/health``,
    ``/version``."""

    def __init__(self, default_endpoint: str = "") -> None:
        self.default_endpoint = default_endpoint

    async def __call__(self, gateway: Gateway, request: HttpRequest) -> bool:
        path = request.path
        if path in ("/ping", "/health", "/version"):
            if request.method not in ("GET", "HEAD"):
                await self._refuse(
                    request, MethodNotAllowed(f"{path} accepts GET only"), allow=b"GET, HEAD"
                )
            elif path == "/version":  # MLflow's server answers its version as plain text
                await respond(request.send, 200, __version__.encode(), _TEXT, request.request_id)
            else:
                ready = gateway.ready and not gateway.cache.failed
                status = 200 if ready else 503
                await respond(request.send, status, b"\n", JSON, request.request_id)
            return True
        if path == _SUFFIX:
            name = _default_of(gateway.cache.runtimes, self.default_endpoint)
            if not name:
                await self._refuse(
                    request,
                    NotFound(
                        "this gateway serves several endpoints: set serving.default_endpoint, "
                        "or POST /v1/endpoints/{name}/invocations"
                    ),
                )
                return True
        elif path.startswith(_PREFIX) and path.endswith(_SUFFIX):
            name = path[len(_PREFIX) : -len(_SUFFIX)]
        else:
            return False
        if request.method != "POST":
            refused = MethodNotAllowed(f"{path[:100]} accepts POST only")
            await self._refuse(request, refused, allow=b"POST")
            return True
        if request.content_type and request.content_type.startswith(b"text/csv"):
            csv = MalformedRequest("only JSON scoring requests are accepted, not text/csv")
            await self._refuse(request, csv)
            return True
        await gateway.predict(
            name,
            request.authorization,
            request.length,
            request.receive,
            request.send,
            request.request_id,
            request.started,
            dialect=MLFLOW,
            path=path,
        )
        return True

    def openapi_paths(self, runtimes: Mapping[str, EndpointRuntime]) -> dict[str, Any]:
        return mlflow_paths(runtimes, _default_of(runtimes, self.default_endpoint))

    def close(self) -> None:
        """Nothing held."""

    @staticmethod
    async def _refuse(request: HttpRequest, exc: ModelwardError, allow: bytes = b"") -> None:
        headers = [*JSON, (b"allow", allow)] if allow else JSON
        await respond(request.send, exc.http_status, error_body(exc), headers, request.request_id)


def _default_of(runtimes: Mapping[str, EndpointRuntime], default_endpoint: str) -> str:
    """The endpoint ``/invocations`` scores; "" when several are served and none is set."""
    if default_endpoint:
        return default_endpoint
    return next(iter(runtimes)) if len(runtimes) == 1 else ""

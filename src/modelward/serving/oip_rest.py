"""The Open Inference Protocol v2 over REST, on the gateway: health, metadata, inference.

``GET /v2``, ``/v2/health/live`` and ``/v2/health/ready`` describe the server and need no
token (like ``/healthz`` and ``/readyz``: load balancers and probes call them). Every path
naming a model (``/v2/models/{name}[/versions/{v}]``, ``.../ready``, ``.../infer``) needs a
token whose identity is among the endpoint's callers, like the native route. A model is
an endpoint: its name is the endpoint's, its version the model version the endpoint
serves. Inference goes through :meth:`~modelward.serving.gateway.Gateway.predict`, the
native route's path; errors are the protocol's ``{"error": "..."}`` with the status the
native route would give.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from modelward import __version__
from modelward.errors import MethodNotAllowed, ModelwardError, NotFound
from modelward.serving.auth import may_call
from modelward.serving.dialect import JSON, HttpRequest, Parsed
from modelward.serving.gateway import Gateway
from modelward.serving.oip import (
    OUTPUT,
    output_tensor,
    request_from_json,
    rows_from_tensors,
    tensor_datatype,
)
from modelward.serving.openapi_protocols import oip_paths
from modelward.serving.problems import respond
from modelward.serving.runtime import EndpointRuntime
from modelward.serving.schema import decode

__all__ = ["OIP_JSON", "OipJsonDialect", "OipRoutes", "model_metadata", "server_metadata"]

_MODELS = "/v2/models/"


def server_metadata() -> dict[str, Any]:
    return {"name": "modelward", "version": __version__, "extensions": []}


def model_metadata(runtime: EndpointRuntime) -> dict[str, Any]:
    """The protocol's model metadata of an endpoint: its request fields as input tensors."""
    fields = runtime.schema.fields
    return {
        "name": runtime.spec.name,
        "versions": [runtime.model.version] if runtime.model.version else [],
        "platform": f"modelward_{runtime.model.flavor}" if runtime.model.flavor else "modelward",
        "inputs": [
            {"name": name, "datatype": tensor_datatype(kind), "shape": [-1]}
            for name, kind in fields.items()
        ],
        # what a model answers is known once it answers; numbers are the common case
        "outputs": [{"name": OUTPUT, "datatype": "FP64", "shape": [-1]}],
    }


def response_document(payload: dict[str, Any], request_id: str) -> dict[str, Any]:
    """The protocol's inference response from the gateway's native answer."""
    datatype, shape, data = output_tensor(payload["predictions"])
    parameters: dict[str, Any] = {
        "request_id": payload["request_id"],
        "degraded": payload["degraded"],
    }
    if payload["degraded"]:
        parameters["reason"] = payload["reason"]
    return {
        "model_name": payload["endpoint"],
        "model_version": payload["model_version"] or "",
        "id": request_id or payload["request_id"],
        "parameters": parameters,
        "outputs": [{"name": OUTPUT, "datatype": datatype, "shape": shape, "data": data}],
    }


def error_body(exc: ModelwardError) -> bytes:
    return orjson.dumps({"error": exc.message}, default=str)


class OipJsonDialect:
    """The protocol's JSON inference request in, its inference response out."""

    headers = JSON

    def parse(self, runtime: EndpointRuntime, body: bytes) -> Parsed:
        request = request_from_json(decode(body), runtime.spec.name)
        rows = rows_from_tensors(request, runtime.schema.fields, runtime.spec.name)
        rows, _ = runtime.schema.validate({"inputs": rows})
        return Parsed(rows, True, request.id)

    def render(self, payload: dict[str, Any], parsed: Parsed) -> bytes:
        return orjson.dumps(response_document(payload, parsed.context))

    def problem(
        self, exc: ModelwardError, request_id: str
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        return error_body(exc), JSON


OIP_JSON = OipJsonDialect()


class OipRoutes:
    """The ``/v2`` paths; mount with ``gateway.mount(OipRoutes())``."""

    async def __call__(self, gateway: Gateway, request: HttpRequest) -> bool:
        path = request.path
        if path != "/v2" and not path.startswith("/v2/"):
            return False
        try:
            await self._route(gateway, request)
        except ModelwardError as exc:
            allow = exc.details.get("allow")
            headers = [*JSON, (b"allow", allow.encode())] if allow else JSON
            await respond(
                request.send, exc.http_status, error_body(exc), headers, request.request_id
            )
        return True

    def openapi_paths(self, runtimes: Mapping[str, EndpointRuntime]) -> dict[str, Any]:
        return oip_paths(runtimes)

    def close(self) -> None:
        """Nothing held."""

    async def _route(self, gateway: Gateway, request: HttpRequest) -> None:
        path, method = request.path, request.method
        if path in ("/v2", "/v2/health/live", "/v2/health/ready"):
            _only(method, "GET", path)
            if path == "/v2":
                await _send(request, 200, server_metadata())
            elif path == "/v2/health/live":
                await _send(request, 200, {"live": True})
            else:
                ready = gateway.ready and not gateway.cache.failed
                await _send(request, 200 if ready else 503, {"ready": ready})
            return
        if not path.startswith(_MODELS):
            raise NotFound(f"no route {path[:100]!r}")
        parts = path[len(_MODELS) :].split("/")
        name, version, action = parts[0], None, ""
        rest = parts[1:]
        if len(rest) >= 2 and rest[0] == "versions" and rest[1]:
            version, rest = rest[1], rest[2:]
        if len(rest) == 1 and rest[0] in ("ready", "infer"):
            action = rest[0]
        elif rest:
            raise NotFound(f"no route {path[:100]!r}")
        if action == "infer":
            _only(method, "POST", path)
            await gateway.predict(
                name,
                request.authorization,
                request.length,
                request.receive,
                request.send,
                request.request_id,
                request.started,
                dialect=OIP_JSON,
                version=version,
                path=path,
            )
            return
        _only(method, "GET", path)
        runtime = await _model(gateway, request, name, version)
        if action == "ready":
            ready = gateway.ready and runtime.unavailable is None
            await _send(request, 200 if ready else 503, {"name": name, "ready": ready})
        else:
            await _send(request, 200, model_metadata(runtime))


async def _model(
    gateway: Gateway, request: HttpRequest, name: str, version: str | None
) -> EndpointRuntime:
    principal = await gateway.verifier.principal(request.authorization)
    runtime = gateway.cache.runtimes.get(name)
    if runtime is None:
        raise NotFound(f"model {name[:60]!r} is not served here", endpoint=name[:60])
    may_call(principal, runtime.spec)
    if version is not None and version != runtime.model.version:
        raise NotFound(
            f"model {name!r} is served at version {runtime.model.version!r}, not {version[:40]!r}",
            endpoint=name,
        )
    return runtime


def _only(method: str, allowed: str, path: str) -> None:
    if method != allowed:
        raise MethodNotAllowed(f"{path[:100]} accepts {allowed} only", allow=allowed)


async def _send(request: HttpRequest, status: int, doc: dict[str, Any]) -> None:
    await respond(request.send, status, orjson.dumps(doc), JSON, request.request_id)

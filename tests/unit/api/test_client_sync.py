"""The typed client and the REST API's OpenAPI document (generated from the app) agree.

Each :class:`~modelward.api.Client` method declares the operation it calls; these tests
fail when a route is added, removed or changed (path, query parameters, body fields,
answer model) without the client following, or the other way round.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest

from modelward.api import Client, create_app
from modelward.api.client import OPERATION_ATTR, Operation
from modelward.config import Workspace
from modelward.session import Session

PREFIX = "/api/v1"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from modelward.config import init_workspace

    root = init_workspace(tmp_path_factory.mktemp("client") / "ws", project="test")
    with Session(Workspace.open(root, environ={})) as session:
        yield create_app(session).openapi()


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path.removeprefix(PREFIX)): op
        for path, item in spec["paths"].items()
        if path.startswith(PREFIX)
        for method, op in item.items()
    }


def _declared() -> dict[tuple[str, str], tuple[str, Operation]]:
    found: dict[tuple[str, str], tuple[str, Operation]] = {}
    for name, fn in vars(Client).items():
        op = getattr(fn, OPERATION_ATTR, None)
        if isinstance(op, Operation):
            assert (op.method, op.path) not in found, f"two client methods call {op.path}"
            found[(op.method, op.path)] = (name, op)
    return found


def _schema(spec: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rsplit("/", 1)[-1]
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


def test_every_operation_has_one_client_method_and_no_method_calls_a_missing_one(
    spec: dict[str, Any],
) -> None:
    served = set(_operations(spec))
    declared = set(_declared())
    assert not served - declared, f"operations without a client method: {sorted(served - declared)}"
    assert not declared - served, f"client methods of no operation: {sorted(declared - served)}"


def test_each_method_sends_what_its_operation_takes_and_reads_what_it_answers(
    spec: dict[str, Any],
) -> None:
    operations = _operations(spec)
    for key, (name, declared) in _declared().items():
        op = operations[key]
        params = op.get("parameters", [])
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert set(re.findall(r"{(\w+)}", declared.path)) == in_path, name
        assert in_path <= set(inspect.signature(getattr(Client, name)).parameters), name
        assert set(declared.query) == {p["name"] for p in params if p["in"] == "query"}, name
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        if declared.body == ("*",):  # a free-form definition (an endpoint's spec)
            assert "properties" not in body["schema"], name
        elif declared.body:
            schema = body["schema"]
            schema = _schema(spec, schema) if "$ref" in schema else schema
            if "anyOf" in schema:  # an optional body: the model or null
                schema = _schema(spec, next(s for s in schema["anyOf"] if "$ref" in s))
            assert set(declared.body) == set(schema["properties"]), name
        else:
            assert not body, name
        status = next(s for s in op["responses"] if s.startswith("2"))
        answer = op["responses"][status]["content"]["application/json"]["schema"]
        if declared.many:
            assert answer["type"] == "array", name
            answer = answer["items"]
        assert answer["$ref"].rsplit("/", 1)[-1] == declared.answer.__name__, name
        server = _schema(spec, answer)
        client = declared.answer.model_json_schema(mode="serialization")
        assert set(server["properties"]) == set(client["properties"]), name


def test_every_success_answer_has_an_example_its_model_reads(spec: dict[str, Any]) -> None:
    """The examples are the client's models' own, so a field renamed on one side fails here."""
    operations = _operations(spec)
    for key, (name, declared) in _declared().items():
        answers = operations[key]["responses"]
        status = next(s for s in answers if s.startswith("2"))
        example = answers[status]["content"]["application/json"].get("example")
        assert example is not None, f"{name}: no example in the document"
        for item in example if declared.many else [example]:
            assert set(item) >= set(
                _schema(spec, {"$ref": f"/{declared.answer.__name__}"})["required"]
            )
            declared.answer.model_validate(item)

"""Property tests of the job submission parser: any body is a job or a 4xx naming a field,
and no ``input_path`` ever names a file outside the workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.serving.jobs.submission import parse_job, resolve_input_path
from modelward.serving.schema import RequestSchema

SCHEMA = RequestSchema("churn", {"tenure": "int", "spend": "float", "plan": "string"}, 10)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
KEYS = st.sampled_from(["inputs", "input_path", "callback_url", "tenure", "x"])


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.dictionaries(KEYS, JSON | st.just({"tenure": 1, "spend": 0.5, "plan": "a"})))
def test_any_object_is_a_job_or_a_4xx_naming_the_field(data: dict[str, object]) -> None:
    body = json.dumps(data).encode()
    refused: InputError | None = None
    try:
        job = parse_job(body, SCHEMA, root=None, callbacks=True)
    except InputError as exc:
        refused = exc
    if refused is not None:
        assert refused.http_status in (400, 422)
        problem = refused.to_problem()
        assert problem["detail"]
        for error in problem.get("errors", []):
            assert error["field"] and error["rule"]
        return
    rows = job.payload["inputs"]
    assert rows and all(set(r) == {"tenure", "spend", "plan"} for r in rows)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ws")
    (root / "data").mkdir()
    (root / "data" / "in.parquet").write_bytes(b"PAR1")
    (root.parent / "secret.parquet").write_bytes(b"PAR1")
    (root / "data" / "escape.parquet").symlink_to(root.parent / "secret.parquet")
    return root


PARTS = st.sampled_from(["..", ".", "data", "in.parquet", "escape.parquet", "secret.parquet", "/"])


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(PARTS, min_size=1, max_size=6))
def test_no_input_path_reaches_outside_the_workspace(workspace: Path, parts: list[str]) -> None:
    value = "/".join(parts)
    refused: InputError | None = None
    try:
        path = resolve_input_path("churn", value, workspace)
    except InputError as exc:
        refused = exc
    if refused is not None:
        assert refused.http_status == 422
        return
    assert path.is_relative_to(workspace.resolve()) and path.is_file()
    assert path == (workspace / "data" / "in.parquet").resolve()

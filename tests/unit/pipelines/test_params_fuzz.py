"""Fuzzing pipeline parameters, a trust boundary: ``-p key=value`` text from a command line.

Invariants: a value is parsed to its declared type or refused with an InputError naming
the parameter; what is accepted can be stored in a run record on every backend (JSON in
SQLite and Postgres) and read back unchanged. Command-line text on Linux can carry lone
surrogates (bytes that are not UTF-8 arrive as ``\\udcXX``), so those are in the mix.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from modelward.config import Workspace
from modelward.errors import InputError
from modelward.pipelines import Param, pipeline, run_pipeline, step
from modelward.pipelines.params import parse_assignments, resolve_params
from modelward.session import Session

DECLARED = {
    "n": Param(int, default=1),
    "rate": Param(float, default=0.5),
    "flag": Param(bool, default=False),
    "label": Param(str, default="x"),
    "mode": Param(str, default="fast", choices=("fast", "slow")),
}

edge_text = st.sampled_from(
    [
        "",
        " 7 ",
        "1_000",
        "-0",
        "9" * 5_000,
        "1e999",
        "nan",
        "-inf",
        "0x10",
        "true",
        "YES",
        "off",
        "\udcff",
        "a\x00b",
        "fast",
        "FAST",
    ]
)
texts = edge_text | st.text(max_size=12)


def _storable(value: Any) -> None:
    text = json.dumps(value, allow_nan=False)
    assert json.loads(text) == value
    text.encode("utf-8")
    json.dumps(value, ensure_ascii=False).encode("utf-8")


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*DECLARED, "unknown"]), texts, max_size=4))
@example({"label": "\udcff"})
@example({"n": "9" * 5_000})
@example({"rate": "1e999"})
def test_text_parameters_are_parsed_or_refused_by_name(given_: dict[str, str]) -> None:
    try:
        values = resolve_params(DECLARED, given_, pipeline="p", from_text=True)
    except InputError as exc:
        refused = exc
    else:
        refused = None
    if refused is not None:
        assert str(refused).startswith("pipeline 'p': ")
        assert refused.details["param"] in given_
        event("refused")
        return
    event("accepted")
    assert set(values) == set(DECLARED)
    for name, param in DECLARED.items():
        assert type(values[name]) is param.type
        if param.type is float:
            assert math.isfinite(values[name])
    _storable(values)


@given(st.lists(st.text(max_size=8), max_size=5))
def test_assignments_split_on_the_first_equals_sign(items: list[str]) -> None:
    try:
        parsed = parse_assignments(items)
    except InputError:
        event("refused")
        return
    event("accepted")
    for item in items:
        key, _, value = item.partition("=")
        assert parsed[key.strip()] == value


@step
def echo(label: str) -> str:
    return label


echoing = pipeline("echoing", [echo], params={"label": Param(str)})


def test_a_lone_surrogate_is_refused_by_name() -> None:
    with pytest.raises(InputError, match=r"parameter 'label': must be valid UTF-8 text"):
        resolve_params(DECLARED, {"label": "\udcff"}, pipeline="p", from_text=True)


@pytest.mark.parametrize("label", ["é\U0001f600", "a\x00b", "x" * 10_000])
def test_an_accepted_text_parameter_is_stored_and_read_back(
    workspace: Workspace, label: str
) -> None:
    from modelward.pipelines import get_run

    with Session(workspace) as session:
        run = run_pipeline(
            session, echoing, {"label": label}, params_from_text=True, executor="inline"
        )
        assert run.ok, run.error
        assert get_run(session, run.id).params == {"label": label}

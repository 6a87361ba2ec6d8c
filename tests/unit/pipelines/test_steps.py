"""Steps: names checked at definition time, outputs returned as a tuple or a dict with
exactly the declared names, and a code hash that moves with the code, the outputs and the
version only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelward.errors import InputError
from modelward.pipelines.steps import StepContext, step


@step(outputs=("train", "test"))
def split(rows: list[int], seed: int = 7) -> tuple[list[int], list[int]]:
    """Rows split in two."""
    return rows[::2], rows[1::2]


def test_a_step_knows_its_inputs_outputs_and_description() -> None:
    assert split.name == "split" and split.outputs == ("train", "test")
    assert split.arguments == ("rows", "seed") and split.optional_arguments == {"seed"}
    assert split.description == "Rows split in two."
    assert split([1, 2, 3]) == ([1, 3], [2])  # the plain function, callable as is


def test_outputs_come_back_by_name_from_a_tuple_or_a_dict() -> None:
    assert split.split_outputs(([1], [2])) == {"train": [1], "test": [2]}
    assert split.split_outputs({"test": [2], "train": [1]}) == {"train": [1], "test": [2]}
    # one output: the whole value, a tuple included
    assert step(name="pair", outputs="pair")(lambda rows: rows).split_outputs((1, 2)) == {
        "pair": (1, 2)
    }


@pytest.mark.parametrize(
    ("result", "says"),
    [
        ({"train": [1]}, r"returned keys \['train'\]; declared outputs are \['train', 'test'\]"),
        (([1], [2], [3]), r"must return 2 values \(train, test\) as a tuple or dict, got tuple"),
        ([[1], [2]], "got list"),
    ],
)
def test_a_result_that_does_not_fit_the_outputs_names_them(result: Any, says: str) -> None:
    with pytest.raises(InputError, match=says) as info:
        split.split_outputs(result)
    assert info.value.details["step"] == "split"


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"name": "1st"}, "step name '1st' must be a Python identifier of at most 64"),
        ({"name": "x" * 65}, "must be a Python identifier of at most 64 characters"),
        ({"outputs": ("a-b",)}, "step 'f': output name 'a-b' must be a Python identifier"),
        ({"outputs": ("a", "a")}, r"output names repeat: \['a', 'a'\]"),
        ({"outputs": ""}, "step 'f': output name '' must be a Python identifier"),
    ],
)
def test_bad_names_are_refused_when_the_step_is_defined(kwargs: dict[str, Any], says: str) -> None:
    def f(x: int) -> int:
        return x

    with pytest.raises(InputError, match=says):
        step(**kwargs)(f)


def test_no_outputs_declared_means_one_named_after_the_step() -> None:
    def f(x: int) -> int:
        return x

    assert step(outputs=())(f).outputs == ("f",)


def test_arguments_that_cannot_be_wired_are_refused_at_definition() -> None:
    def loose(*rows: int) -> int:
        return 0

    with pytest.raises(InputError, match=r"\*args/\*\*kwargs cannot be wired; name each input"):
        step(loose)


def test_the_code_hash_moves_with_the_code_outputs_or_version_only() -> None:
    def make(version: str = "1", outputs: tuple[str, ...] = ("total",), offset: int = 0) -> Any:
        if offset:

            def total(rows: list[int]) -> int:
                return sum(rows) + 1
        else:

            def total(rows: list[int]) -> int:
                return sum(rows)

        return step(outputs=outputs, version=version)(total)

    base = make().code_hash
    assert base.startswith("sha256:") and make().code_hash == base
    assert make(offset=1).code_hash != base
    assert make(version="2").code_hash != base
    assert make(outputs=("sum",)).code_hash != base


def test_a_context_without_a_session_says_so(tmp_path: Path) -> None:
    ctx = StepContext("run1", "churn", "train", tmp_path, stored_inputs={"rows": {"hash": "h1"}})
    assert ctx.input_hashes == {"rows": "h1"}
    with pytest.raises(InputError, match="step 'train': no workspace session is available"):
        ctx.session  # noqa: B018

"""Pipeline definitions: wiring, order, and clear errors at definition time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InputError
from modelward.pipelines import Param, Step, pipeline, step
from tests.unit.pipelines import sample


def test_steps_are_wired_by_argument_names_and_ordered() -> None:
    p = sample.arith
    assert [s.name for s in p.order] == ["numbers", "split", "total"]
    assert p.upstream_of("total") == ["split"]
    assert p.bindings["total"]["scale"].kind == "param"
    assert p.params["scale"].type is float


def test_step_is_still_a_plain_function() -> None:
    assert sample.split(sample.numbers(4)) == ([0, 4], [1, 9])


def test_unknown_input_names_the_step_and_the_input() -> None:
    @step
    def a() -> int:
        return 1

    @step
    def b(a: int, missing: int) -> int:
        return a + missing

    with pytest.raises(InputError, match=r"step 'b' input 'missing' is produced by no step"):
        pipeline("p", [a, b])


def test_cycle_is_refused_with_the_loop_named() -> None:
    @step
    def a(c: int) -> int:
        return c

    @step
    def b(a: int) -> int:
        return a

    @step
    def c(b: int) -> int:
        return b

    with pytest.raises(
        InputError, match=r"cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"
    ):
        pipeline("p", [a, b, c])


def test_unconnected_step_is_refused() -> None:
    @step
    def a() -> int:
        return 1

    @step
    def b(a: int) -> int:
        return a

    @step
    def lonely(n: int) -> int:
        return n

    with pytest.raises(InputError, match=r"step\(s\) 'lonely' are not connected"):
        pipeline("p", [a, b, lonely], params={"n": 1})


def test_output_produced_twice_is_refused() -> None:
    @step(outputs="x")
    def a() -> int:
        return 1

    @step(outputs="x")
    def b() -> int:
        return 2

    with pytest.raises(InputError, match="output 'x' is produced by both step 'a' and step 'b'"):
        pipeline("p", [a, b])


def test_var_args_cannot_be_wired() -> None:
    with pytest.raises(InputError, match=r"\*args/\*\*kwargs"):

        @step
        def bad(*values: int) -> int:
            return 0


def test_bad_names_are_refused() -> None:
    @step
    def a() -> int:
        return 1

    with pytest.raises(InputError, match="pipeline name"):
        pipeline("no spaces", [a])
    with pytest.raises(InputError, match="output name"):
        step(name="ok", outputs="not-an-identifier")(lambda: 1)


def test_multiple_outputs_must_match_the_declaration() -> None:
    s = step(name="two", outputs=("a", "b"))(lambda: None)
    assert s.split_outputs((1, 2)) == {"a": 1, "b": 2}
    assert s.split_outputs({"b": 2, "a": 1}) == {"a": 1, "b": 2}
    with pytest.raises(InputError, match="declared outputs"):
        s.split_outputs({"a": 1})
    with pytest.raises(InputError, match="must return 2 values"):
        s.split_outputs([1, 2])


def test_definition_hash_changes_with_parameters() -> None:
    @step
    def a(n: int) -> int:
        return n

    assert (
        pipeline("p", [a], params={"n": 1}).definition_hash
        != pipeline("p", [a], params={"n": Param(int, default=2)}).definition_hash
    )


def _chain_steps(edges: list[tuple[int, int]], n: int) -> list[Step]:
    """Step i reads the outputs of every j with (j, i) in edges."""
    steps = []
    for i in range(n):
        deps = sorted({j for j, k in edges if k == i})
        args = ", ".join(f"o{j}" for j in deps)
        src = f"def s{i}({args}):\n    return 1\n"
        scope: dict[str, object] = {}
        exec(src, scope)  # build functions with exactly these argument names
        steps.append(step(name=f"s{i}", outputs=f"o{i}")(scope[f"s{i}"]))  # type: ignore[arg-type]
    return steps


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    n = draw(st.integers(2, 8))
    # a spanning chain keeps the graph connected; extra edges only point forward
    edges = [(i, i + 1) for i in range(n - 1)]
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=10))
    edges += [(a, b) for a, b in extra if a < b]
    return n, edges


@settings(max_examples=60, deadline=None)
@given(dags(), st.randoms(use_true_random=False))
def test_any_dag_in_any_order_is_sorted_topologically(
    dag: tuple[int, list[tuple[int, int]]], rnd: object
) -> None:
    n, edges = dag
    steps = _chain_steps(edges, n)
    rnd.shuffle(steps)  # type: ignore[attr-defined]
    order = [s.name for s in pipeline("g", steps).order]
    pos = {name: i for i, name in enumerate(order)}
    assert all(pos[f"s{a}"] < pos[f"s{b}"] for a, b in edges)


@settings(max_examples=60, deadline=None)
@given(dags(), st.data())
def test_any_back_edge_is_reported_as_a_cycle(
    dag: tuple[int, list[tuple[int, int]]], data: st.DataObject
) -> None:
    n, edges = dag
    hi = data.draw(st.integers(1, n - 1))
    lo = data.draw(st.integers(0, hi))
    with pytest.raises(InputError, match="cycle"):
        pipeline("g", _chain_steps([*edges, (hi, lo)], n))

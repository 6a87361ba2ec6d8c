"""A pipeline: named steps wired by their inputs and outputs, plus typed parameters.

Every check that can be made without running anything is made when the pipeline is
defined: unknown inputs, an output produced twice, cycles, and steps not connected to the
rest of the graph each raise an :class:`~modelward.errors.InputError` naming the step.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from modelward.errors import InputError
from modelward.pipelines.params import Param, as_param
from modelward.pipelines.steps import CONTEXT_ARG, Step

__all__ = ["Binding", "Pipeline", "pipeline"]

_PIPELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Binding:
    """Where a step argument's value comes from."""

    kind: Literal["output", "param", "context", "default"]
    #: the output or parameter name (empty for the context and defaults)
    source: str = ""
    #: the step producing the output
    producer: str = ""


class Pipeline:
    """A checked step graph. Build with :func:`pipeline`; run with ``run_pipeline``."""

    def __init__(
        self,
        name: str,
        steps: Sequence[Step],
        params: Mapping[str, Param | Any] | None = None,
        *,
        description: str = "",
        module: str | None = None,
    ) -> None:
        if not _PIPELINE_NAME.match(name):
            raise InputError(
                f"pipeline name {name!r}: letters, digits, '.', '_' and '-' only, "
                "at most 128 characters",
                field="name",
            )
        self.name = name
        self.description = description
        #: the module defining the pipeline, so worker processes can load it again
        self.module = module
        self.params: dict[str, Param] = {k: as_param(k, v) for k, v in (params or {}).items()}
        for key in self.params:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise InputError(
                    f"pipeline {name!r}: parameter name {key!r} must be an identifier", param=key
                )
        self._steps = self._index(steps)
        self.producers = self._producers()
        self.bindings = {s.name: self._bind(s) for s in self._steps.values()}
        self.order: tuple[Step, ...] = self._topological()
        self._check_connected()

    # ------------------------------------------------------------------ definition checks

    def _where(self) -> str:
        return f"pipeline {self.name!r}: "

    def _index(self, steps: Sequence[Step]) -> dict[str, Step]:
        if not steps:
            raise InputError(f"{self._where()}has no steps", pipeline=self.name)
        out: dict[str, Step] = {}
        for s in steps:
            if not isinstance(s, Step):
                raise InputError(
                    f"{self._where()}{s!r} is not a step; decorate it with @step",
                    pipeline=self.name,
                )
            if s.name in out:
                raise InputError(f"{self._where()}two steps are named {s.name!r}", step=s.name)
            out[s.name] = s
        return out

    def _producers(self) -> dict[str, str]:
        producers: dict[str, str] = {}
        for s in self._steps.values():
            for out in s.outputs:
                if out in producers:
                    raise InputError(
                        f"{self._where()}output {out!r} is produced by both step "
                        f"{producers[out]!r} and step {s.name!r}",
                        step=s.name,
                        output=out,
                    )
                if out in self.params:
                    raise InputError(
                        f"{self._where()}output {out!r} of step {s.name!r} has the name "
                        "of a parameter; rename one of them",
                        step=s.name,
                        output=out,
                    )
                producers[out] = s.name
        return producers

    def _bind(self, s: Step) -> dict[str, Binding]:
        bound: dict[str, Binding] = {}
        for arg in s.arguments:
            if arg == CONTEXT_ARG:
                bound[arg] = Binding("context")
            elif arg in self.params:
                bound[arg] = Binding("param", arg)
            elif arg in self.producers:
                bound[arg] = Binding("output", arg, self.producers[arg])
            elif arg in s.optional_arguments:
                bound[arg] = Binding("default")
            else:
                outputs = ", ".join(sorted(self.producers)) or "none"
                params = ", ".join(sorted(self.params)) or "none"
                raise InputError(
                    f"{self._where()}step {s.name!r} input {arg!r} is produced by no step and "
                    f"is no parameter (outputs: {outputs}; parameters: {params})",
                    step=s.name,
                    input=arg,
                )
        return bound

    def upstream_of(self, name: str) -> list[str]:
        """The steps whose outputs ``name`` reads directly, in argument order."""
        seen: list[str] = []
        for b in self.bindings[name].values():
            if b.kind == "output" and b.producer not in seen:
                seen.append(b.producer)
        return seen

    def _topological(self) -> tuple[Step, ...]:
        deps = {n: set(self.upstream_of(n)) for n in self._steps}
        done: list[str] = []
        remaining = list(self._steps)
        while remaining:
            # the first declared step whose inputs are ready: the order reads like the code
            ready = next((n for n in remaining if deps[n] <= set(done)), None)
            if ready is None:
                raise InputError(
                    f"{self._where()}the steps form a cycle: {self._cycle(deps, remaining)}",
                    pipeline=self.name,
                )
            done.append(ready)
            remaining.remove(ready)
        return tuple(self._steps[n] for n in done)

    @staticmethod
    def _cycle(deps: Mapping[str, set[str]], remaining: Sequence[str]) -> str:
        # walk upstream from any blocked step until a step repeats: that walk is a cycle
        path = [remaining[0]]
        while True:
            nxt = sorted(d for d in deps[path[-1]] if d in remaining)[0]
            if nxt in path:
                loop = [*path[path.index(nxt) :], nxt]
                return " -> ".join(reversed(loop))
            path.append(nxt)

    def _check_connected(self) -> None:
        if len(self._steps) < 2:
            return
        neighbours: dict[str, set[str]] = {n: set() for n in self._steps}
        for n in self._steps:
            for up in self.upstream_of(n):
                neighbours[n].add(up)
                neighbours[up].add(n)
        first = self.order[0].name
        reached, frontier = {first}, [first]
        while frontier:
            for nb in neighbours[frontier.pop()]:
                if nb not in reached:
                    reached.add(nb)
                    frontier.append(nb)
        loose = [n for n in self._steps if n not in reached]
        if loose:
            raise InputError(
                f"{self._where()}step(s) {', '.join(map(repr, loose))} are not connected to "
                f"step {first!r}: no output of one is an input of the other; wire them or "
                "make them a separate pipeline",
                step=loose[0],
            )

    # ------------------------------------------------------------------ reading

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.order

    def step(self, name: str) -> Step:
        try:
            return self._steps[name]
        except KeyError:
            raise InputError(
                f"{self._where()}no step named {name!r}; steps: {', '.join(self._steps)}",
                step=name,
            ) from None

    def ancestors(self, names: Iterable[str]) -> set[str]:
        """``names`` and every step they depend on, directly or not."""
        out: set[str] = set()
        frontier = [self.step(n).name for n in names]
        while frontier:
            n = frontier.pop()
            if n not in out:
                out.add(n)
                frontier.extend(self.upstream_of(n))
        return out

    @property
    def definition_hash(self) -> str:
        """``sha256:`` over the steps' code, wiring and the parameter declarations."""
        body = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "params": {k: p.to_dict() for k, p in self.params.items()},
            "steps": [
                {
                    "name": s.name,
                    "inputs": {
                        a: f"{b.kind}:{b.source}" if b.source else b.kind
                        for a, b in self.bindings[s.name].items()
                    },
                    "outputs": list(s.outputs),
                    "upstream": self.upstream_of(s.name),
                    "cache": s.cache,
                    "side_effects": s.side_effects,
                    "code_hash": s.code_hash,
                }
                for s in self.order
            ],
        }

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={[s.name for s in self.order]})"


def pipeline(
    name: str,
    steps: Sequence[Step],
    params: Mapping[str, Param | Any] | None = None,
    *,
    description: str = "",
) -> Pipeline:
    """Define a pipeline (checked now). Define it at module level so workers can load it.

    >>> churn = pipeline("churn", [extract, validate, split, train],
    ...                  params={"seed": Param(int, default=7)})  # doctest: +SKIP
    """
    caller = sys._getframe(1).f_globals.get("__name__")
    return Pipeline(name, steps, params, description=description, module=caller)

"""Steps: plain Python functions, wired into a pipeline by their argument names.

A step's arguments are its inputs. An argument named like another step's output receives
that output; one named like a pipeline parameter receives the parameter's value; ``ctx``
receives the :class:`StepContext` (the workspace session, the run id, a scratch folder).
What a step returns is its output: one value named after the step, or, with
``outputs=("train", "test")``, a tuple in that order or a dict with exactly those keys.

>>> @step(outputs=("train", "test"))
... def split(training_set, seed: int):
...     ...
"""

from __future__ import annotations

import hashlib
import inspect
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from modelward.errors import InputError

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["CONTEXT_ARG", "Step", "StepContext", "step"]

#: the argument name that receives the :class:`StepContext`
CONTEXT_ARG = "ctx"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass
class StepContext:
    """What a running step may use besides its inputs."""

    run_id: str
    pipeline: str
    step: str
    workdir: Path
    #: "run", "schedule" or "reproduce"; a step with side effects may act differently
    trigger: str = "run"
    #: how this step's inputs are stored ({hash, codec, size}), by argument name
    stored_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _session_factory: Callable[[], Session] | None = field(default=None, repr=False)
    _session: Session | None = field(default=None, repr=False)

    @property
    def input_hashes(self) -> dict[str, str]:
        """Content hashes of this step's inputs, by argument name (for lineage records)."""
        return {k: str(v["hash"]) for k, v in self.stored_inputs.items()}

    @property
    def session(self) -> Session:
        """The workspace session (opened on first use in the worker)."""
        if self._session is None:
            if self._session_factory is None:
                raise InputError(f"step {self.step!r}: no workspace session is available")
            self._session = self._session_factory()
        return self._session


@dataclass(frozen=True)
class Step:
    """A step: the function, its input and output names, and whether its outputs are cached."""

    fn: Callable[..., Any]
    name: str
    outputs: tuple[str, ...]
    cache: bool = True
    #: bump to invalidate cached outputs when code outside the function changed
    version: str = "1"
    #: a step that changes the world (registers, deploys); skipped by ``reproduce``
    side_effects: bool = False
    description: str = ""

    @cached_property
    def arguments(self) -> tuple[str, ...]:
        sig = inspect.signature(self.fn)
        out = []
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise InputError(
                    f"step {self.name!r}: *args/**kwargs cannot be wired; name each input",
                    step=self.name,
                )
            out.append(p.name)
        return tuple(out)

    @cached_property
    def optional_arguments(self) -> frozenset[str]:
        sig = inspect.signature(self.fn)
        return frozenset(p.name for p in sig.parameters.values() if p.default is not p.empty)

    @cached_property
    def code_hash(self) -> str:
        """``sha256:`` of the function's source (or bytecode), outputs and version."""
        try:
            body = textwrap.dedent(inspect.getsource(self.fn))
        except (OSError, TypeError):
            code = getattr(self.fn, "__code__", None)
            body = repr(code.co_code if code else self.fn)
        text = "\n".join([self.name, ",".join(self.outputs), self.version, body])
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def split_outputs(self, result: Any) -> dict[str, Any]:
        """The returned value as ``{output name: value}``, checked against ``outputs``."""
        if len(self.outputs) == 1:
            return {self.outputs[0]: result}
        if isinstance(result, Mapping):
            if set(result) != set(self.outputs):
                raise InputError(
                    f"step {self.name!r} returned keys {sorted(map(str, result))}; "
                    f"declared outputs are {list(self.outputs)}",
                    step=self.name,
                )
            return {k: result[k] for k in self.outputs}
        if isinstance(result, tuple) and len(result) == len(self.outputs):
            return dict(zip(self.outputs, result, strict=True))
        raise InputError(
            f"step {self.name!r} must return {len(self.outputs)} values "
            f"({', '.join(self.outputs)}) as a tuple or dict, got {type(result).__name__}",
            step=self.name,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the plain function (handy in tests and notebooks)."""
        return self.fn(*args, **kwargs)


def _check_name(kind: str, name: str, where: str) -> None:
    if not _NAME.match(name):
        raise InputError(
            f"{where}{kind} name {name!r} must be a Python identifier of at most 64 characters",
            field=kind,
        )


def _make(
    fn: Callable[..., Any],
    name: str | None,
    outputs: Sequence[str] | str | None,
    cache: bool,
    version: str,
    side_effects: bool,
) -> Step:
    step_name = name or fn.__name__
    _check_name("step", step_name, "")
    outs = (outputs,) if isinstance(outputs, str) else tuple(outputs or (step_name,))
    if not outs:
        raise InputError(f"step {step_name!r}: declare at least one output", step=step_name)
    for out in outs:
        _check_name("output", out, f"step {step_name!r}: ")
    if len(set(outs)) != len(outs):
        raise InputError(f"step {step_name!r}: output names repeat: {list(outs)}", step=step_name)
    made = Step(
        fn=fn,
        name=step_name,
        outputs=outs,
        cache=cache,
        version=str(version),
        side_effects=side_effects,
        description=inspect.getdoc(fn) or "",
    )
    made.arguments  # noqa: B018 - refuse *args/**kwargs at definition time
    return made


@overload
def step(fn: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    outputs: Sequence[str] | str | None = None,
    cache: bool = True,
    version: str = "1",
    side_effects: bool = False,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    outputs: Sequence[str] | str | None = None,
    cache: bool = True,
    version: str = "1",
    side_effects: bool = False,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a function a pipeline step (``@step`` or ``@step(outputs=(...), cache=False)``).

    ``cache=False`` runs the step every time (for steps that read the outside world, such
    as taking a snapshot of a source file); its output hash still lets later steps hit
    their cache when nothing changed.
    """
    if fn is not None:
        return _make(fn, name, outputs, cache, version, side_effects)

    def wrap(f: Callable[..., Any]) -> Step:
        return _make(f, name, outputs, cache, version, side_effects)

    return wrap

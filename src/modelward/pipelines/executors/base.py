"""The executor port: run one step task somewhere and say how it went and what it cost.

An executor receives a JSON task (see :mod:`modelward.pipelines.worker`) and returns a
:class:`StepOutcome`. Backends: ``local`` (a process per step, the default), ``inline``
(the calling process; the test double and a debugging aid) and ``ray`` (a Ray task per
step on a cluster). The ``[pipelines] executor`` setting picks one by its ``type``;
backends are imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelward.errors import ConfigError
from modelward.plugins import PluginFamily

if TYPE_CHECKING:
    from modelward.pipelines.cache import ObjectStore, StoredValue
    from modelward.pipelines.graph import Pipeline

__all__ = ["EXECUTORS", "Executor", "StepOutcome", "open_executor"]


@dataclass
class StepOutcome:
    ok: bool
    outputs: dict[str, StoredValue] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    error_details: dict[str, Any] | None = None
    wall_seconds: float = 0.0
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None


class Executor(Protocol):
    """Runs step tasks. One executor serves one pipeline run at a time."""

    #: the config ``type`` ("local", "inline", "ray"), recorded with each run
    name: str

    def run_step(
        self, task: Mapping[str, Any], objects: ObjectStore, pipeline: Pipeline
    ) -> StepOutcome:
        """Run ``task`` and wait for it. Outputs are stored in ``objects`` (by the worker or,
        for remote workers, by the executor from the bytes they return). A step that raises,
        or a worker that dies, is an outcome with ``ok=False``, never an exception; only the
        executor itself failing (unreachable cluster) raises a ``ModelwardError``."""
        ...

    def close(self) -> None:
        """Release what :func:`open_executor` acquired (a Ray connection)."""
        ...


#: config ``type`` -> "module:Class"; the class takes the config's other keys as keywords.
#: Third-party executors use the ``modelward.executors`` entry point group.
EXECUTORS = PluginFamily(
    kind="executor",
    setting="pipelines.executor",
    group="modelward.executors",
    builtins={
        "local": "modelward.pipelines.executors.local:LocalExecutor",
        "inline": "modelward.pipelines.executors.local:InlineExecutor",
        "ray": "modelward.pipelines.executors.ray:RayExecutor",
    },
)


def open_executor(config: str | Mapping[str, Any]) -> Executor:
    """An executor from config: ``"local"`` or ``{"type": "ray", "address": "..."}``."""
    spec = {"type": config} if isinstance(config, str) else dict(config)
    kind = str(spec.pop("type", "local"))
    factory = EXECUTORS.load(kind)
    try:
        executor: Executor = factory(**spec)
    except TypeError as exc:
        raise ConfigError(
            f"pipelines.executor ({kind}): {exc}", field="pipelines.executor"
        ) from None
    return executor

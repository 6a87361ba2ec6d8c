"""Pipelines context: steps as plain functions, a checked graph, cached runs, schedules.

>>> from modelward.pipelines import Param, pipeline, run_pipeline, step
>>> @step
... def numbers(n: int) -> list[int]:
...     return list(range(n))
>>> @step
... def total(numbers: list[int]) -> int:
...     return sum(numbers)
>>> demo = pipeline("demo", [numbers, total], params={"n": Param(int, default=3)})
>>> run = run_pipeline(session, demo, {"n": 4})  # doctest: +SKIP

Submodules load on first use, so importing this package imports no database tables.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelward.pipelines.graph import Pipeline, pipeline
from modelward.pipelines.params import Param
from modelward.pipelines.steps import Step, StepContext, step

if TYPE_CHECKING:
    from modelward.pipelines.catalog import find_pipeline, load_pipelines
    from modelward.pipelines.engine import StepEvent, load_output, run_pipeline
    from modelward.pipelines.runs import PipelineRun, StepRecord, get_run, list_runs

__all__ = [
    "Param",
    "Pipeline",
    "PipelineRun",
    "Step",
    "StepContext",
    "StepEvent",
    "StepRecord",
    "find_pipeline",
    "get_run",
    "list_runs",
    "load_output",
    "load_pipelines",
    "pipeline",
    "run_pipeline",
    "step",
]

_LAZY = {
    "run_pipeline": "modelward.pipelines.engine",
    "load_output": "modelward.pipelines.engine",
    "StepEvent": "modelward.pipelines.engine",
    "PipelineRun": "modelward.pipelines.runs",
    "StepRecord": "modelward.pipelines.runs",
    "get_run": "modelward.pipelines.runs",
    "list_runs": "modelward.pipelines.runs",
    "find_pipeline": "modelward.pipelines.catalog",
    "load_pipelines": "modelward.pipelines.catalog",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'modelward.pipelines' has no attribute {name!r}")

"""Pipelines context: steps as plain functions, a checked graph, cached runs, schedules.

This module is the context's public surface; other contexts, the CLI and the user's
pipeline files import only from here.

>>> from modelward.pipelines import Param, pipeline, run_pipeline, step
>>> @step
... def numbers(n: int) -> list[int]:
...     return list(range(n))
>>> @step
... def total(numbers: list[int]) -> int:
...     return sum(numbers)
>>> demo = pipeline("demo", [numbers, total], params={"n": Param(int, default=3)})
>>> run = run_pipeline(session, demo, {"n": 4})  # doctest: +SKIP

Names below the graph load on first use, so importing this package imports no database
tables and no training library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports
from modelward.pipelines.graph import Pipeline, pipeline
from modelward.pipelines.params import Param
from modelward.pipelines.steps import Step, StepContext, step

if TYPE_CHECKING:
    from modelward.pipelines.catalog import find_pipeline, load_pipelines
    from modelward.pipelines.compare import RunComparison, compare_runs
    from modelward.pipelines.engine import StepEvent, load_output, run_pipeline
    from modelward.pipelines.evaluation import AcceptancePolicy
    from modelward.pipelines.params import parse_assignments
    from modelward.pipelines.reproduction import ReproduceReport, reproduce
    from modelward.pipelines.runs import PipelineRun, StepRecord, get_run, list_runs
    from modelward.pipelines.scheduler import TickOutcome, run_due
    from modelward.pipelines.scheduler import serve as serve_schedules
    from modelward.pipelines.schedules import (
        Schedule,
        check_cron,
        create_schedule,
        list_schedules,
    )
    from modelward.pipelines.template import Dataset, supervised_tabular

__all__ = [
    "AcceptancePolicy",
    "Dataset",
    "Param",
    "Pipeline",
    "PipelineRun",
    "ReproduceReport",
    "RunComparison",
    "Schedule",
    "Step",
    "StepContext",
    "StepEvent",
    "StepRecord",
    "TickOutcome",
    "check_cron",
    "compare_runs",
    "create_schedule",
    "find_pipeline",
    "get_run",
    "list_runs",
    "list_schedules",
    "load_output",
    "load_pipelines",
    "parse_assignments",
    "pipeline",
    "reproduce",
    "run_due",
    "run_pipeline",
    "serve_schedules",
    "step",
    "supervised_tabular",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "find_pipeline": "catalog",
        "load_pipelines": "catalog",
        "RunComparison": "compare",
        "compare_runs": "compare",
        "StepEvent": "engine",
        "load_output": "engine",
        "run_pipeline": "engine",
        "AcceptancePolicy": "evaluation",
        "parse_assignments": "params",
        "ReproduceReport": "reproduction",
        "reproduce": "reproduction",
        "PipelineRun": "runs",
        "StepRecord": "runs",
        "get_run": "runs",
        "list_runs": "runs",
        "TickOutcome": "scheduler",
        "run_due": "scheduler",
        "serve_schedules": "scheduler:serve",
        "Schedule": "schedules",
        "check_cron": "schedules",
        "create_schedule": "schedules",
        "list_schedules": "schedules",
        "Dataset": "template",
        "supervised_tabular": "template",
    },
)

"""Readiness context: the evidence that a model version is ready for production.

Load tests of an endpoint (``load_test``, ``recommend``), skew checks kept as evidence
(``checked_skew``), and the readiness report (``readiness``): seven questions, each
answered yes/no/unknown from recorded evidence with a pointer; plus the ``readiness``
promotion gate over that report. It sits above serving and pipelines, since it reads
what they record; the dashboard and the CLI render what these functions return.

>>> from modelward.readiness import readiness
>>> report = readiness(session, "churn@production")  # doctest: +SKIP
>>> report.ready  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports

if TYPE_CHECKING:
    from modelward.readiness.gate import ReadinessGate, readiness_gate
    from modelward.readiness.loadtest import (
        MAX_CONCURRENCY,
        MAX_DURATION_S,
        LoadResult,
        load_test,
        request_rows,
    )
    from modelward.readiness.questions import QUESTIONS, Answer, Readiness, readiness
    from modelward.readiness.sizing import Recommendation, Trial, cost_per_1000, recommend
    from modelward.readiness.skew import checked_skew

__all__ = [
    "MAX_CONCURRENCY",
    "MAX_DURATION_S",
    "QUESTIONS",
    "Answer",
    "LoadResult",
    "Readiness",
    "ReadinessGate",
    "Recommendation",
    "Trial",
    "checked_skew",
    "cost_per_1000",
    "load_test",
    "readiness",
    "readiness_gate",
    "recommend",
    "request_rows",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ReadinessGate": "gate",
        "readiness_gate": "gate",
        "MAX_CONCURRENCY": "loadtest",
        "MAX_DURATION_S": "loadtest",
        "LoadResult": "loadtest",
        "load_test": "loadtest",
        "request_rows": "loadtest",
        "QUESTIONS": "questions",
        "Answer": "questions",
        "Readiness": "questions",
        "readiness": "questions",
        "Recommendation": "sizing",
        "Trial": "sizing",
        "cost_per_1000": "sizing",
        "recommend": "sizing",
        "checked_skew": "skew",
    },
)

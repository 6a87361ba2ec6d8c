"""Rollout context: releases of a candidate version on an endpoint, and their traffic.

This module is the context's public surface; other contexts, the CLI and the REST API
import only from here. The gateway imports only the pure routing decision
(:class:`TrafficPlan`, :class:`Route`); names load on first use, so importing this
package loads neither SQLAlchemy nor SciPy.

>>> from modelward.rollout import TrafficPlan
>>> TrafficPlan.canary("churn@2", "churn@3", weight=5, release_id="r1").versions
('churn@2', 'churn@3')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports

if TYPE_CHECKING:
    from modelward.rollout.analysis import Analysis, ArmSample, MetricVerdict, arm_samples, judge
    from modelward.rollout.changes import (
        abort,
        advance,
        fail,
        pause,
        promote,
        record_smoke,
        resume,
        rollback,
        start_release,
    )
    from modelward.rollout.controller import Controller, ControllerThread, Decision, analyse
    from modelward.rollout.gates import EvidenceVerdict, live_verdict, promote_on_evidence
    from modelward.rollout.plans import (
        BUCKETS,
        EndpointPlan,
        Route,
        Strategy,
        TrafficPlan,
        parse_strategy,
    )
    from modelward.rollout.policy import KNOWN_METRICS, MetricRule, RolloutPolicy, parse_policy
    from modelward.rollout.releases import (
        Release,
        current_plans,
        current_release,
        get_release,
        list_releases,
    )
    from modelward.rollout.shadow import ShadowReport, shadow_report, shadow_report_window
    from modelward.rollout.shadow_page import (
        render_shadow_html,
        shadow_report_fragment,
        write_shadow_html,
    )
    from modelward.rollout.smoke import (
        DEFAULT_TOLERANCE,
        GoldenRows,
        SmokeResult,
        failed_smoke,
        parse_golden,
        smoke_test,
    )

__all__ = [
    "BUCKETS",
    "DEFAULT_TOLERANCE",
    "KNOWN_METRICS",
    "Analysis",
    "ArmSample",
    "Controller",
    "ControllerThread",
    "Decision",
    "EndpointPlan",
    "EvidenceVerdict",
    "GoldenRows",
    "MetricRule",
    "MetricVerdict",
    "Release",
    "RolloutPolicy",
    "Route",
    "ShadowReport",
    "SmokeResult",
    "Strategy",
    "TrafficPlan",
    "abort",
    "advance",
    "analyse",
    "arm_samples",
    "current_plans",
    "current_release",
    "fail",
    "failed_smoke",
    "get_release",
    "judge",
    "list_releases",
    "live_verdict",
    "parse_golden",
    "parse_policy",
    "parse_strategy",
    "pause",
    "promote",
    "promote_on_evidence",
    "record_smoke",
    "render_shadow_html",
    "resume",
    "rollback",
    "shadow_report",
    "shadow_report_fragment",
    "shadow_report_window",
    "smoke_test",
    "start_release",
    "write_shadow_html",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Controller": "controller",
        "ControllerThread": "controller",
        "Decision": "controller",
        "analyse": "controller",
        "Analysis": "analysis",
        "ArmSample": "analysis",
        "MetricVerdict": "analysis",
        "arm_samples": "analysis",
        "judge": "analysis",
        "BUCKETS": "plans",
        "EndpointPlan": "plans",
        "Route": "plans",
        "Strategy": "plans",
        "TrafficPlan": "plans",
        "parse_strategy": "plans",
        "KNOWN_METRICS": "policy",
        "MetricRule": "policy",
        "RolloutPolicy": "policy",
        "parse_policy": "policy",
        "Release": "releases",
        "abort": "changes",
        "advance": "changes",
        "current_plans": "releases",
        "current_release": "releases",
        "fail": "changes",
        "get_release": "releases",
        "list_releases": "releases",
        "pause": "changes",
        "promote": "changes",
        "resume": "changes",
        "rollback": "changes",
        "start_release": "changes",
        "record_smoke": "changes",
        "DEFAULT_TOLERANCE": "smoke",
        "GoldenRows": "smoke",
        "SmokeResult": "smoke",
        "failed_smoke": "smoke",
        "parse_golden": "smoke",
        "smoke_test": "smoke",
        "ShadowReport": "shadow",
        "shadow_report": "shadow",
        "shadow_report_window": "shadow",
        "render_shadow_html": "shadow_page",
        "shadow_report_fragment": "shadow_page",
        "write_shadow_html": "shadow_page",
        "EvidenceVerdict": "gates",
        "live_verdict": "gates",
        "promote_on_evidence": "gates",
    },
)

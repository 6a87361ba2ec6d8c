"""Retraining context: policies, triggers judged before work, one run per episode, and the
candidate through the same rollout and gates as a person's.

This module is the context's public surface; the CLI and the REST API import only from
here. Names load on first use.

>>> from modelward.retraining import load_policies
>>> table = {"name": "p", "endpoint": "churn", "model": "churn", "pipeline": "churn"}
>>> load_policies([table])[0].strategies
['shadow', 'canary']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports

if TYPE_CHECKING:
    from modelward.retraining.episodes import LOOP, Episode, get_episode, list_episodes
    from modelward.retraining.evidence import Evidence, gather
    from modelward.retraining.judgement import Check, Judgement, judge
    from modelward.retraining.loop import (
        decide_trigger,
        handle_trigger,
        policies_of,
        run_episode,
        tick,
        trigger_by_hand,
    )
    from modelward.retraining.policies import RetrainPolicy, find_policy, load_policies
    from modelward.retraining.releases import advance_episodes
    from modelward.retraining.runner import Runner, RunOutcome, pipeline_runner
    from modelward.retraining.switches import set_switch, switch_states
    from modelward.retraining.triggers import Trigger, detect

__all__ = [
    "LOOP",
    "Check",
    "Episode",
    "Evidence",
    "Judgement",
    "RetrainPolicy",
    "RunOutcome",
    "Runner",
    "Trigger",
    "advance_episodes",
    "decide_trigger",
    "detect",
    "find_policy",
    "gather",
    "get_episode",
    "handle_trigger",
    "judge",
    "list_episodes",
    "load_policies",
    "pipeline_runner",
    "policies_of",
    "run_episode",
    "set_switch",
    "switch_states",
    "tick",
    "trigger_by_hand",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Evidence": "evidence",
        "gather": "evidence",
        "Check": "judgement",
        "Judgement": "judgement",
        "judge": "judgement",
        "LOOP": "episodes",
        "Episode": "episodes",
        "get_episode": "episodes",
        "list_episodes": "episodes",
        "advance_episodes": "releases",
        "decide_trigger": "loop",
        "run_episode": "loop",
        "handle_trigger": "loop",
        "policies_of": "loop",
        "tick": "loop",
        "trigger_by_hand": "loop",
        "RetrainPolicy": "policies",
        "find_policy": "policies",
        "load_policies": "policies",
        "RunOutcome": "runner",
        "Runner": "runner",
        "pipeline_runner": "runner",
        "set_switch": "switches",
        "switch_states": "switches",
        "Trigger": "triggers",
        "detect": "triggers",
    },
)

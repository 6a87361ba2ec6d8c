"""Judgement before work: the checks a trigger must pass, and the decision they give.

The seed's questions, in order, each a recorded :class:`Check`:

1. **switch** - is the policy (or every policy) paused? Then block.
2. **pipeline** - does a recent monitor run show a data pipeline incident (a null spike,
   unseen categories, a missing column on an important feature)? Then block: retraining on
   broken inputs turns bad data into a bad model; the incident is alerted instead.
3. **season** - is drift expected now (a declared business cycle)? Then wait.
4. **labels** - are enough labels in for the window (coverage against the policy's
   minimum, with the expected delay said)? If not, wait.
5. **persistent** - did the performance fall hold in each of the last N runs, not a spike?
   If not, wait.
6. **recalibration** - is ranking intact (AUC within tolerance of held out) while
   calibration drifted (ECE rose)? Then recalibrate, cheaper than a retrain.
7. **budget** - runs and CPU seconds started today within the policy's budget? If not, wait.

Schedules, upstream snapshots and manual triggers skip 3-6: they are decisions already
made by a person or a calendar, but a broken pipeline, a paused policy and the budget
still stop them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from modelward.retraining.evidence import Evidence
from modelward.retraining.policies import RetrainPolicy
from modelward.retraining.triggers import Trigger

__all__ = ["Check", "Decision", "Judgement", "judge"]

Decision = Literal["retrain", "recalibrate", "wait", "block"]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Judgement:
    decision: Decision
    reason: str
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reason": self.reason,
            "checks": [asdict(c) for c in self.checks],
        }


def _incidents(ev: Evidence) -> list[str]:
    found = []
    for run in ev.runs:
        for c in run.get("conditions", []):
            if c.get("kind") == "data_pipeline_incident":
                found.append(c.get("message", ""))
    for a in ev.alerts:
        if a["state"] == "firing" and a["key"].startswith("data_pipeline_incident"):
            found.append(a["message"])
    return list(dict.fromkeys(found))


def _performance(ev: Evidence, run: dict[str, Any]) -> dict[str, Any]:
    return (ev.version_result(run) or {}).get("performance") or {}


def _decayed(policy: RetrainPolicy, trigger: Trigger, ev: Evidence, run: dict[str, Any]) -> bool:
    """Whether one run shows the decay ``trigger`` is about (an AUC fall or an ECE rise)."""
    perf = _performance(ev, run)
    if trigger.evidence.get("measure") == "ece":
        ece, base = perf.get("ece"), ev.held_out.get("ece")
        return (
            ece is not None
            and base is not None
            and (ece - base >= policy.checks.recalibrate_min_ece_rise)
        )
    auc, base = perf.get("auc"), ev.held_out.get("roc_auc")
    return auc is not None and base is not None and base - auc >= policy.triggers.max_auc_drop


def judge(policy: RetrainPolicy, trigger: Trigger, ev: Evidence) -> Judgement:
    """The decision for ``trigger`` with every check that led to it."""
    checks: list[Check] = []

    def stop(decision: Decision, name: str, detail: str) -> Judgement:
        checks.append(Check(name, False, detail))
        return Judgement(decision, detail, checks)

    if ev.switched_off:
        return stop("block", "switch", ev.switched_off)
    checks.append(Check("switch", True, "the policy and every-policy switches are on"))
    incidents = _incidents(ev)
    if incidents:
        return stop(
            "block",
            "pipeline",
            "data pipeline incident, fix the input before retraining: " + "; ".join(incidents),
        )
    checks.append(Check("pipeline", True, f"no data pipeline incident in {len(ev.runs)} run(s)"))
    judged = trigger.kind in ("performance", "drift")
    if judged:
        season = next((s for s in policy.seasons if s.contains(ev.now)), None)
        if season is not None and trigger.kind == "drift":
            return stop("wait", "season", f"drift is expected during {season.name}")
        checks.append(Check("season", True, "no declared season now"))
        latest = _performance(ev, ev.runs[0]) if ev.runs else {}
        coverage = latest.get("coverage")
        if coverage is None or coverage < policy.checks.min_label_coverage:
            shown = "no labelled window" if coverage is None else f"{coverage:.0%}"
            return stop(
                "wait",
                "labels",
                f"label coverage {shown} < {policy.checks.min_label_coverage:.0%} "
                f"(labels take about {policy.checks.expected_label_delay_h:g} h)",
            )
        checks.append(Check("labels", True, f"label coverage {coverage:.0%}"))
        base = ev.held_out.get("roc_auc")
        needed = policy.checks.persistence
        if trigger.kind == "performance":
            held = [_decayed(policy, trigger, ev, r) for r in ev.runs]
            if len(held) < needed or not all(held[:needed]):
                return stop(
                    "wait",
                    "persistent",
                    f"the fall held in {sum(held)} of the last {needed} run(s): not yet persistent",
                )
            checks.append(Check("persistent", True, f"held in the last {needed} run(s)"))
        auc, ece = latest.get("auc"), latest.get("ece")
        base_ece = ev.held_out.get("ece")
        if (
            auc is not None
            and base is not None
            and abs(base - auc) <= policy.checks.recalibrate_auc_tolerance
            and ece is not None
            and base_ece is not None
            and ece - base_ece >= policy.checks.recalibrate_min_ece_rise
        ):
            checks.append(
                Check(
                    "recalibration",
                    True,
                    f"ranking holds (AUC {auc:.3f} vs {base:.3f}); calibration drifted "
                    f"(ECE {ece:.3f} vs {base_ece:.3f})",
                )
            )
            return _budgeted(policy, ev, checks, "recalibrate")
        seen = (
            f" (AUC {auc:.3f} vs {base:.3f} held out, tolerance "
            f"{policy.checks.recalibrate_auc_tolerance:g})"
            if auc is not None and base is not None
            else ""
        )
        checks.append(
            Check("recalibration", True, f"recalibration would not suffice{seen}: retrain")
        )
    return _budgeted(policy, ev, checks, "retrain")


def _budgeted(
    policy: RetrainPolicy, ev: Evidence, checks: list[Check], decision: Decision
) -> Judgement:
    budget = policy.budget
    if ev.runs_today >= budget.max_runs_per_day:
        detail = f"budget: {ev.runs_today} run(s) today, at most {budget.max_runs_per_day}"
        checks.append(Check("budget", False, detail))
        return Judgement("wait", detail, checks)
    if ev.cpu_today_s >= budget.max_cpu_s:
        detail = f"budget: {ev.cpu_today_s:.1f} CPU s today, at most {budget.max_cpu_s:g}"
        checks.append(Check("budget", False, detail))
        return Judgement("wait", detail, checks)
    checks.append(Check("budget", True, f"{ev.runs_today} of {budget.max_runs_per_day} run(s)"))
    what = "recalibrate the serving version" if decision == "recalibrate" else "retrain"
    return Judgement(decision, f"every check passed: {what}", checks)

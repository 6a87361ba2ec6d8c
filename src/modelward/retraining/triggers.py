"""Triggers: what may start retraining, each with its evidence and its episode key.

Detection is a pure function of the policy and one :class:`Evidence` record. The key names
the episode a trigger belongs to: the same key seen again (the same decay of the same
version, the same firing alert, the same schedule tick, the same new snapshot) is linked to
its episode instead of starting another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from modelward.cron import latest_tick
from modelward.retraining.evidence import Evidence
from modelward.retraining.policies import RetrainPolicy

__all__ = ["Trigger", "TriggerKind", "detect"]

TriggerKind = Literal["performance", "drift", "schedule", "upstream", "manual"]


@dataclass(frozen=True)
class Trigger:
    kind: TriggerKind
    key: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "reason": self.reason, **self.evidence}


def manual(reason: str, by: str, now: datetime) -> Trigger:
    """A person's trigger (a policy or product change): its own episode."""
    return Trigger("manual", f"manual:{now.isoformat()}", reason, {"by": by})


def _reaches(change: float, limit: float) -> bool:
    """``change >= limit``, where a change the decimals say equals the limit counts: the
    AUC falling from 0.85 to 0.80 is 0.04999999999999993 in binary floating point, and a
    policy's 0.05 means that fall too."""
    return change >= limit or math.isclose(change, limit, rel_tol=1e-9, abs_tol=1e-12)


def _performance(policy: RetrainPolicy, ev: Evidence) -> Trigger | None:
    """Realised performance decayed: the AUC fell (ranking) or, with the AUC holding, the
    calibration error rose (the scores no longer mean their probability)."""
    latest = (ev.version_result(ev.runs[0]) if ev.runs else None) or {}
    perf = latest.get("performance") or {}
    base, auc = ev.held_out.get("roc_auc"), perf.get("auc")
    if base is not None and auc is not None and _reaches(base - auc, policy.triggers.max_auc_drop):
        return Trigger(
            "performance",
            f"performance:{ev.serving}",
            f"{ev.serving}: realised AUC {auc:.3f} against {base:.3f} held out "
            f"(limit {policy.triggers.max_auc_drop:g})",
            {"measure": "auc", "auc": auc, "held_out_auc": base},
        )
    base_ece, ece = ev.held_out.get("ece"), perf.get("ece")
    if (
        base_ece is not None
        and ece is not None
        and _reaches(ece - base_ece, policy.checks.recalibrate_min_ece_rise)
    ):
        return Trigger(
            "performance",
            f"calibration:{ev.serving}",
            f"{ev.serving}: calibration error (ECE) {ece:.3f} against {base_ece:.3f} held out",
            {"measure": "ece", "ece": ece, "held_out_ece": base_ece},
        )
    return None


def _drift(ev: Evidence) -> list[Trigger]:
    found = []
    for alert in ev.alerts:
        if alert["state"] != "firing":
            continue
        kind = alert["key"].split(":", 1)[0]
        if kind not in ("model_drift", "data_pipeline_incident"):
            continue
        fired: datetime = alert["fired_at"]
        found.append(
            Trigger(
                "drift",
                f"drift:{alert['key']}:{fired.isoformat()}",
                alert["message"],
                {"alert": alert["key"]},
            )
        )
    return found


def _upstream(policy: RetrainPolicy, ev: Evidence) -> list[Trigger]:
    found = []
    for name in policy.triggers.upstream:
        versions = ev.datasets.get(name)
        if versions is None or versions[1] <= versions[0]:
            continue
        trained, newest = versions
        schema = " with a schema change" if name in ev.schema_changed else ""
        found.append(
            Trigger(
                "upstream",
                f"upstream:{name}@{newest}",
                f"dataset {name}: snapshot {newest}{schema} is newer than {trained}, "
                f"which {ev.serving} was trained on",
                {"dataset": name, "trained_on": trained, "newest": newest},
            )
        )
    return found


def detect(policy: RetrainPolicy, ev: Evidence) -> list[Trigger]:
    """Every trigger of ``policy`` that holds in ``ev`` (manual ones come from a person)."""
    found: list[Trigger] = []
    if policy.triggers.performance:
        decay = _performance(policy, ev)
        if decay is not None:
            found.append(decay)
    if policy.triggers.drift_alerts:
        found.extend(_drift(ev))
    if policy.triggers.schedule:
        tick = latest_tick(policy.triggers.schedule, ev.now)
        found.append(
            Trigger(
                "schedule",
                f"schedule:{tick.isoformat()}",
                f"scheduled ({policy.triggers.schedule}) at {tick.isoformat()}",
                {"tick": tick.isoformat()},
            )
        )
    found.extend(_upstream(policy, ev))
    return found

"""What differs between two pipeline runs: parameters, code, environment, each step's
inputs, outputs and cost, and the evaluation's metrics.

>>> diff = compare_runs(session, "3f9c2a", "81b0d4")  # doctest: +SKIP
>>> [c.what for c in diff.changes]  # doctest: +SKIP
['params.as_of', 'step.features.outputs', 'metric.roc_auc']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelward.pipelines.runs import PipelineRun, get_run

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["Change", "RunComparison", "StepComparison", "compare_runs"]


@dataclass(frozen=True)
class Change:
    """One thing that is not the same in the two runs (``old`` is the first run's)."""

    what: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class StepComparison:
    step: str
    old_status: str | None
    new_status: str | None
    same_inputs: bool
    same_outputs: bool
    old_wall_seconds: float | None
    new_wall_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "old_status": self.old_status,
            "new_status": self.new_status,
            "same_inputs": self.same_inputs,
            "same_outputs": self.same_outputs,
            "old_wall_seconds": self.old_wall_seconds,
            "new_wall_seconds": self.new_wall_seconds,
        }


@dataclass(frozen=True)
class RunComparison:
    old: PipelineRun
    new: PipelineRun
    changes: list[Change] = field(default_factory=list)
    steps: list[StepComparison] = field(default_factory=list)
    #: ``{metric: (old, new)}`` of the chosen candidate, when both runs evaluated one
    metrics: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        return not self.changes

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old.id,
            "new": self.new.id,
            "same": self.same,
            "changes": [c.to_dict() for c in self.changes],
            "steps": [s.to_dict() for s in self.steps],
            "metrics": {k: {"old": a, "new": b} for k, (a, b) in self.metrics.items()},
        }


def _diff(prefix: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    return [
        Change(f"{prefix}.{key}", old.get(key), new.get(key))
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _hashes(values: dict[str, Any] | None) -> dict[str, str]:
    return {k: (v.hash if hasattr(v, "hash") else str(v)) for k, v in (values or {}).items()}


def _evaluation(session: Session, run: PipelineRun) -> dict[str, Any] | None:
    from modelward.pipelines.engine import load_output

    if "evaluation" not in run.outputs:
        return None
    try:
        value = load_output(session, run, "evaluation")
    except Exception:  # an output that cannot be read is no metric to compare
        return None
    return value if isinstance(value, dict) else None


def _chosen_metrics(evaluation: dict[str, Any] | None) -> dict[str, float | None]:
    if not evaluation:
        return {}
    chosen = evaluation.get("chosen")
    overall = ((evaluation.get("candidates") or {}).get(chosen) or {}).get("overall") or {}
    return {k: v for k, v in overall.items() if isinstance(v, int | float) and k != "n"}


def compare_runs(session: Session, old_id: str, new_id: str) -> RunComparison:
    """Compare run ``old_id`` with run ``new_id`` (unique id prefixes are enough)."""
    old, new = get_run(session, old_id), get_run(session, new_id)
    changes: list[Change] = []
    if old.pipeline != new.pipeline:
        changes.append(Change("pipeline", old.pipeline, new.pipeline))
    changes += _diff("params", old.params, new.params)
    changes += _diff("code.steps", old.code.get("steps") or {}, new.code.get("steps") or {})
    old_git, new_git = old.code.get("git") or {}, new.code.get("git") or {}
    changes += _diff("git", old_git, new_git)
    for key in ("python", "packages_hash"):
        if old.environment.get(key) != new.environment.get(key):
            changes.append(
                Change(f"environment.{key}", old.environment.get(key), new.environment.get(key))
            )
    by_name = {s.step: s for s in old.steps}
    steps: list[StepComparison] = []
    for record in new.steps:
        before = by_name.pop(record.step, None)
        same_in = before is not None and before.input_hashes == record.input_hashes
        same_out = before is not None and _hashes(before.outputs) == _hashes(record.outputs)
        if before is not None and not same_out and record.outputs and before.outputs:
            changes.append(Change(f"step.{record.step}.outputs", "", "different content"))
        steps.append(
            StepComparison(
                record.step,
                before.status if before else None,
                record.status,
                same_in,
                same_out,
                before.wall_seconds if before else None,
                record.wall_seconds,
            )
        )
    for gone in by_name.values():
        steps.append(
            StepComparison(gone.step, gone.status, None, False, False, gone.wall_seconds, None)
        )
    old_m = _chosen_metrics(_evaluation(session, old))
    new_m = _chosen_metrics(_evaluation(session, new))
    metrics = {k: (old_m.get(k), new_m.get(k)) for k in sorted(set(old_m) | set(new_m))}
    changes += [Change(f"metric.{k}", a, b) for k, (a, b) in metrics.items() if a != b]
    return RunComparison(old, new, changes, steps, metrics)

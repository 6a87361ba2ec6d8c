"""``modelward reproduce NAME@VERSION``: run the recorded pipeline again and compare.

The model version's lineage names the pipeline run that produced it. That run's
parameters are used again; its *source* steps (steps reading no other step's output,
e.g. taking dataset snapshots or looking up the champion) are pinned to their recorded
outputs, since snapshots are immutable and the outside world may have moved on; every
other step without side effects runs again with the cache off. Then the training set
hash, the metrics and the predictions on the golden set are compared with the record
(numbers within ``tolerance``, for trainers that are not bit-for-bit deterministic), and
every difference is named. The code (git commit, step code hashes) and the environment
(package lock hash) of the two runs are reported beside the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelward.errors import InputError, NotFound
from modelward.jsondiff import json_changes

if TYPE_CHECKING:
    from modelward.pipelines.engine import StepEvent
    from modelward.pipelines.runs import PipelineRun
    from modelward.session import Session

__all__ = ["Difference", "ReproduceReport", "reproduce"]


@dataclass(frozen=True)
class Difference:
    what: str
    recorded: Any
    reproduced: Any

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "recorded": self.recorded, "reproduced": self.reproduced}


@dataclass
class ReproduceReport:
    ref: str
    recorded_run: str
    reproduced_run: str
    tolerance: float
    training_set: dict[str, Any] = field(default_factory=dict)
    #: numbers (metrics, golden-set predictions) beyond the tolerance
    differences: list[Difference] = field(default_factory=list)
    #: numbers that differ but within the tolerance
    within_tolerance: list[Difference] = field(default_factory=list)
    #: step outputs whose content hash differs (informational for models)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    failed: str | None = None

    @property
    def verdict(self) -> str:
        if self.failed is not None or self.differences:
            return "differs"
        if not self.training_set.get("identical", True):
            return "differs"
        return "within_tolerance" if self.within_tolerance else "identical"

    @property
    def ok(self) -> bool:
        return self.verdict != "differs"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "verdict": self.verdict,
            "recorded_run": self.recorded_run,
            "reproduced_run": self.reproduced_run,
            "tolerance": self.tolerance,
            "training_set": self.training_set,
            "differences": [d.to_dict() for d in self.differences],
            "within_tolerance": [d.to_dict() for d in self.within_tolerance],
            "outputs": self.outputs,
            "code": self.code,
            "environment": self.environment,
            "failed": self.failed,
        }


def _compare(path: str, old: Any, new: Any, tolerance: float, report: ReproduceReport) -> None:
    """Walk two JSON values; numbers differ beyond or within the tolerance, others exactly."""
    for where, was, now in json_changes(old, new, path=path, into_lists=True):
        if _number(was) and _number(now):
            if math.isnan(was) and math.isnan(now):
                continue
            diff = Difference(where, was, now)
            if abs(float(was) - float(now)) <= tolerance:
                report.within_tolerance.append(diff)
            else:
                report.differences.append(diff)
        else:
            report.differences.append(Difference(where, was, now))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _code(recorded: PipelineRun, reproduced: PipelineRun) -> dict[str, Any]:
    old_steps, new_steps = recorded.code.get("steps", {}), reproduced.code.get("steps", {})
    return {
        "recorded_git": recorded.code.get("git"),
        "current_git": reproduced.code.get("git"),
        "same_commit": (recorded.code.get("git") or {}).get("commit")
        == (reproduced.code.get("git") or {}).get("commit"),
        "changed_steps": sorted(s for s in new_steps if old_steps.get(s) != new_steps[s]),
    }


def reproduce(
    session: Session,
    ref: str,
    *,
    tolerance: float = 0.0,
    executor: str | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
) -> ReproduceReport:
    """Re-run the pipeline run behind model version ``ref`` and compare its results."""
    from modelward.pipelines.catalog import find_pipeline
    from modelward.pipelines.engine import objects_of, run_pipeline
    from modelward.pipelines.runs import get_run
    from modelward.registry import get_version

    if tolerance < 0 or not math.isfinite(tolerance):
        raise InputError("tolerance: must be a number >= 0", field="tolerance")
    version = get_version(session, ref)
    recorded_id = (version.lineage.get("pipeline_run") or {}).get("id")
    if not recorded_id:
        raise NotFound(
            f"{version.ref} was not produced by a pipeline run (its lineage names none); "
            "only pipeline-made versions can be reproduced",
            ref=version.ref,
        )
    recorded = get_run(session, recorded_id)
    pipeline = find_pipeline(session, recorded.pipeline)
    recorded_steps = {s.step: s for s in recorded.steps}
    pinned = {
        s.name: dict(recorded_steps[s.name].outputs or {})
        for s in pipeline.order
        if not pipeline.upstream_of(s.name) and s.name in recorded_steps
    }
    targets = [s.name for s in pipeline.order if not s.side_effects]
    run = run_pipeline(
        session,
        pipeline,
        recorded.params,
        executor=executor,
        use_cache=False,
        targets=targets,
        trigger="reproduce",
        pinned=pinned,
        on_event=on_event,
    )
    report = ReproduceReport(
        ref=version.ref,
        recorded_run=recorded.id,
        reproduced_run=run.id,
        tolerance=tolerance,
        code=_code(recorded, run),
        environment={
            "recorded_packages_hash": recorded.environment.get("packages_hash"),
            "current_packages_hash": run.environment.get("packages_hash"),
            "same": recorded.environment.get("packages_hash")
            == run.environment.get("packages_hash"),
        },
    )
    if not run.ok:
        report.failed = run.error
        return _recorded(session, report)
    old_out, new_out = recorded.outputs, run.outputs
    for name, new in new_out.items():
        old = old_out.get(name)
        report.outputs[name] = {
            "recorded": old.hash if old else None,
            "reproduced": new.hash,
            "identical": old is not None and old.hash == new.hash,
        }
    if "training_set" in new_out:
        report.training_set = report.outputs["training_set"]
    objects = objects_of(session)
    for name in ("split_manifest", "evaluation"):
        if name in new_out and name in old_out and old_out[name].hash != new_out[name].hash:
            _compare(
                name, objects.get(old_out[name]), objects.get(new_out[name]), tolerance, report
            )
    return _recorded(session, report)


def _recorded(session: Session, report: ReproduceReport) -> ReproduceReport:
    """Keep the verdict as the version's evidence: the readiness report's "reproducible"."""
    from modelward.registry import record_evidence

    record_evidence(
        session,
        "reproduce",
        report.ref,
        summary=f"reproduce {report.verdict}: {len(report.differences)} difference(s), run "
        f"{report.reproduced_run}",
        detail={
            "verdict": report.verdict,
            "recorded_run": report.recorded_run,
            "reproduced_run": report.reproduced_run,
            "differences": [d.to_dict() for d in report.differences[:20]],
            "tolerance": report.tolerance,
            "failed": report.failed,
        },
        passed=report.ok,
    )
    return report

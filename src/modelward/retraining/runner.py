"""Running a policy's pipeline: the candidate it registered and whether it was accepted.

The pipeline is the project's own (``pipelines.py``), run exactly as ``modelward run``
runs it (its data contracts fail closed, its steps are cached and recorded, ``modelward
reproduce RUN`` reruns it), with the training window passed as parameters. Its register
step evaluates the candidate against the champion on the same held-out rows and records
the acceptance policy's verdict in the version's lineage; that verdict is read here, not
re-decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modelward.retraining.policies import RetrainPolicy
    from modelward.session import Session

__all__ = ["RunOutcome", "Runner", "pipeline_runner"]


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    ok: bool
    #: "churn@4": the version the run registered, None when it registered none
    candidate: str | None = None
    #: the acceptance policy's verdict against the champion (None: not recorded)
    accepted: bool | None = None
    acceptance: dict[str, Any] | None = None
    cpu_s: float = 0.0
    error: str = ""


class Runner(Protocol):
    def __call__(
        self, session: Session, policy: RetrainPolicy, pipeline: str, params: Mapping[str, Any]
    ) -> RunOutcome: ...


def pipeline_runner(
    session: Session, policy: RetrainPolicy, pipeline: str, params: Mapping[str, Any]
) -> RunOutcome:
    """Run the workspace's ``pipeline`` with ``params``; the version its register step
    registered (the output ``policy.register_output``: ``{"version": ..., "accepted": ...}``
    as the pipeline template's register step returns it)."""
    from modelward import pipelines, registry
    from modelward.errors import ModelwardError

    run = pipelines.run_pipeline(
        session, pipelines.find_pipeline(session, pipeline), dict(params), trigger="retraining"
    )
    cpu = float(sum(s.cpu_seconds or 0.0 for s in run.steps))
    if not run.ok:
        failed = run.failed_step
        why = run.error or (failed.error if failed is not None else "") or run.status
        return RunOutcome(run.id, False, cpu_s=cpu, error=str(why)[:500])
    try:
        registered = pipelines.load_output(session, run, policy.register_output)
    except ModelwardError as exc:
        return RunOutcome(run.id, True, cpu_s=cpu, error=exc.message)
    ref = registered.get("version") if isinstance(registered, dict) else None
    if not isinstance(ref, str):
        return RunOutcome(
            run.id,
            True,
            cpu_s=cpu,
            error=f"run {run.id[:12]}: output {policy.register_output!r} names no version",
        )
    # the lineage carries the acceptance policy's whole result; a version the pipeline
    # reused (same model, same training set) keeps the run that first registered it
    version = registry.get_version(session, ref)
    acceptance = (version.lineage.get("pipeline_run") or {}).get("acceptance") or {}
    accepted = registered.get("accepted", acceptance.get("passed"))
    return RunOutcome(
        run.id,
        True,
        candidate=version.ref,
        accepted=None if accepted is None else bool(accepted),
        acceptance=acceptance or None,
        cpu_s=cpu,
    )

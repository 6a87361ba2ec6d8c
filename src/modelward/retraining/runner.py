"""Running a policy's pipeline: the candidate it registered and whether it was accepted.

The pipeline is the project's own (``pipelines.py``), run exactly as ``modelward run``
runs it (its data contracts fail closed, its steps are cached and recorded, ``modelward
reproduce RUN`` reruns it), with the training window passed as parameters. Its register
step evaluates the candidate against the champion on the same held-out rows and records
the acceptance policy's verdict in the version's lineage; that verdict is read here, not
re-decided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modelward.pipelines import StepEvent
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
    #: stopped between two steps, over the CPU budget left (nothing was registered)
    stopped: bool = False


class Runner(Protocol):
    def __call__(
        self,
        session: Session,
        policy: RetrainPolicy,
        pipeline: str,
        params: Mapping[str, Any],
        *,
        cpu_budget_s: float | None = None,
    ) -> RunOutcome: ...


class _OverBudget(Exception):
    """Raised out of the engine's progress callback: the engine then marks the run
    interrupted and skips its remaining steps."""

    def __init__(self, run_id: str, spent: float, step: str) -> None:
        super().__init__(run_id)
        self.run_id, self.spent, self.step = run_id, spent, step


def _budget_watch(policy: RetrainPolicy, cpu_budget_s: float | None) -> Callable[[StepEvent], None]:
    """Stop the run after any step that takes its CPU seconds past ``cpu_budget_s``, as
    long as nothing is registered yet: a step is the unit a run can stop at whole, and a
    run stopped before its register step leaves no version behind."""
    spent = 0.0
    registered = False

    def watch(event: StepEvent) -> None:
        nonlocal spent, registered
        if event.kind != "finished":
            return
        spent += event.record.cpu_seconds or 0.0
        registered = registered or policy.register_output in (event.record.outputs or {})
        last = event.record.position >= event.total - 1
        if cpu_budget_s is not None and spent > cpu_budget_s and not registered and not last:
            raise _OverBudget(event.run_id, spent, event.record.step)

    return watch


def pipeline_runner(
    session: Session,
    policy: RetrainPolicy,
    pipeline: str,
    params: Mapping[str, Any],
    *,
    cpu_budget_s: float | None = None,
) -> RunOutcome:
    """Run the workspace's ``pipeline`` with ``params``; the version its register step
    registered (the output ``policy.register_output``: ``{"version": ..., "accepted": ...}``
    as the pipeline template's register step returns it).

    ``cpu_budget_s`` is what is left of the policy's CPU budget today: the CPU seconds of
    the finished steps are added up as the run goes, and past it the run stops before its
    next step (recorded as interrupted) with nothing registered."""
    from modelward import pipelines, registry
    from modelward.errors import ModelwardError

    try:
        run = pipelines.run_pipeline(
            session,
            pipelines.find_pipeline(session, pipeline),
            dict(params),
            trigger="retraining",
            on_event=_budget_watch(policy, cpu_budget_s),
        )
    except _OverBudget as over:
        return RunOutcome(
            over.run_id,
            False,
            cpu_s=round(over.spent, 3),
            stopped=True,
            error=f"stopped over the CPU budget: {over.spent:.1f} CPU s after step "
            f"{over.step!r}, with {max(cpu_budget_s or 0.0, 0.0):.1f} left today of "
            f"max_cpu_s {policy.budget.max_cpu_s:g}; its later steps did not run and "
            "nothing was registered",
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

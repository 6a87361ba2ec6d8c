"""Registry context: model versions on MLflow, lineage, lifecycle stages, gates, approvals.

This module is the registry's public surface: other contexts, the CLI and the REST API
import only from here. The notebook API is :func:`run` and :func:`register` (``mw.run``,
``mw.register``); the rest takes an explicit :class:`~modelward.session.Session`.

>>> from modelward.registry import get_version, transition
>>> version = get_version(session, "churn@3")  # doctest: +SKIP
>>> transition(session, principal, "churn@3", "Production", reason="beats v2")  # doctest: +SKIP

Names load on first use, so importing this package imports neither MLflow nor SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports

if TYPE_CHECKING:
    from modelward.registry.approvals import Approval, approve
    from modelward.registry.discovery import discover_model, get_version, list_versions, sync
    from modelward.registry.divergences import Divergence, ReconcileReport, reconcile
    from modelward.registry.divergences import check as check_divergences
    from modelward.registry.environment import Environment
    from modelward.registry.environment import capture as capture_environment
    from modelward.registry.evidence import (
        EVIDENCE_KINDS,
        Evidence,
        latest_evidence,
        list_evidence,
        record_evidence,
    )
    from modelward.registry.gates.base import Gate, GateContext, GateResult, register_gate
    from modelward.registry.gates.business import ParityCheck, parity_checks
    from modelward.registry.lifecycle import (
        Transition,
        history,
        rollback,
        set_approval_policy,
        set_gate_policy,
        transition,
    )
    from modelward.registry.ownership import set_owner
    from modelward.registry.reports import lineage_diff, lineage_report, report_rows
    from modelward.registry.runs import RunRecord, TrackedRun, run
    from modelward.registry.tracking import ensure_store as ensure_tracking_store
    from modelward.registry.tracking import environ as tracking_environ
    from modelward.registry.tracking import using_workspace
    from modelward.registry.versions import (
        MAX_VERSION,
        STAGES,
        ModelVersion,
        RegisteredModel,
        get_model,
        list_models,
        parse_ref,
        validate_name,
    )
    from modelward.session import Session

__all__ = [
    "EVIDENCE_KINDS",
    "MAX_VERSION",
    "STAGES",
    "Approval",
    "Divergence",
    "Environment",
    "Evidence",
    "Gate",
    "GateContext",
    "GateResult",
    "ModelVersion",
    "ParityCheck",
    "ReconcileReport",
    "RegisteredModel",
    "RunRecord",
    "TrackedRun",
    "Transition",
    "approve",
    "capture_environment",
    "check_divergences",
    "discover_model",
    "ensure_tracking_store",
    "get_model",
    "get_version",
    "history",
    "latest_evidence",
    "lineage_diff",
    "lineage_report",
    "list_evidence",
    "list_models",
    "list_versions",
    "parity_checks",
    "parse_ref",
    "reconcile",
    "record_evidence",
    "register",
    "register_gate",
    "report_rows",
    "rollback",
    "run",
    "set_approval_policy",
    "set_gate_policy",
    "set_owner",
    "sync",
    "tracking_environ",
    "transition",
    "using_workspace",
    "validate_name",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Approval": "approvals",
        "approve": "approvals",
        "EVIDENCE_KINDS": "evidence",
        "Evidence": "evidence",
        "latest_evidence": "evidence",
        "list_evidence": "evidence",
        "record_evidence": "evidence",
        "set_owner": "ownership",
        "Environment": "environment",
        "capture_environment": "environment:capture",
        "Gate": "gates.base",
        "GateContext": "gates.base",
        "GateResult": "gates.base",
        "register_gate": "gates.base",
        "ParityCheck": "gates.business",
        "parity_checks": "gates.business",
        "Divergence": "divergences",
        "ReconcileReport": "divergences",
        "reconcile": "divergences",
        "check_divergences": "divergences:check",
        "Transition": "lifecycle",
        "history": "lifecycle",
        "rollback": "lifecycle",
        "set_approval_policy": "lifecycle",
        "set_gate_policy": "lifecycle",
        "transition": "lifecycle",
        "lineage_diff": "reports",
        "lineage_report": "reports",
        "report_rows": "reports",
        "RunRecord": "runs",
        "TrackedRun": "runs",
        "run": "runs",
        "ensure_tracking_store": "tracking:ensure_store",
        "tracking_environ": "tracking:environ",
        "using_workspace": "tracking",
        "STAGES": "versions",
        "ModelVersion": "versions",
        "MAX_VERSION": "versions",
        "RegisteredModel": "versions",
        "get_version": "discovery",
        "discover_model": "discovery",
        "get_model": "versions",
        "list_models": "versions",
        "list_versions": "discovery",
        "parse_ref": "versions",
        "sync": "discovery",
        "validate_name": "versions",
    },
)


def register(
    name: str,
    run: TrackedRun | RunRecord | str | None = None,
    *,
    model_uri: str | None = None,
    session: Session | None = None,
) -> ModelVersion:
    """Register the model a ``mw.run`` logged (or ``model_uri``) as a new version of ``name``.

    ``run`` is what ``mw.run`` yielded (or its record, or an MLflow run id). Without a
    ``session``, the workspace found from ``$MODELWARD_WORKSPACE`` or the cwd is used.
    """
    from modelward.registry import versions
    from modelward.session import resolve_session

    return versions.register(resolve_session(session), name, run, model_uri=model_uri)

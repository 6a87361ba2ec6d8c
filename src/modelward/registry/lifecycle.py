"""The one function that moves a model version between stages: :func:`transition`.

Stages: None -> Staging -> Production -> Archived; at most one Production version per
model. Promoting a version to Production archives the current one and keeps it as the
rollback target (:func:`rollback`).

Every transition: check the actor's role, read the model's state, evaluate the target
stage's gates and approval policy, then write the new stage(s), the transition record
(gate results and approvals as evidence) and the audit entry in ONE transaction. The write
happens only if the model's ``revision`` is still the one that was read, so of two racing
transitions exactly one succeeds; the other gets :class:`~modelward.errors.Conflict`.
A refused transition is audited too (``model.transition.refused``). MLflow aliases
(``staging``, ``production``) are mirrored after the commit, so MLflow users see the stage.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelward import security
from modelward.errors import CheckFailed, Conflict, InputError, NotFound
from modelward.registry import discovery, tracking, versions
from modelward.registry.approvals import approvals_for, authors_of
from modelward.registry.gates.base import GateContext, GateResult, build_gates, evaluate_all
from modelward.registry.tables import model_versions, registered_models, stage_transitions
from modelward.security import Permission, Principal

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "Transition",
    "history",
    "mirror_aliases",
    "rollback",
    "set_approval_policy",
    "set_gate_policy",
    "transition",
]

_log = logging.getLogger(__name__)
Kind = Literal["promote", "rollback"]
_GATED = ("Staging", "Production")


@dataclass(frozen=True)
class Transition:
    model_name: str
    version: int
    from_stage: str
    to_stage: str
    kind: str
    actor: str
    at: datetime
    reason: str
    gate_results: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    override_reason: str | None = None
    #: the version archived because this one became Production
    demoted: int | None = None
    mirrored: bool = field(default=True, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "version": self.version,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "kind": self.kind,
            "actor": self.actor,
            "at": self.at,
            "reason": self.reason,
            "gate_results": self.gate_results,
            "approvals": self.approvals,
            "override_reason": self.override_reason,
            "demoted": self.demoted,
            "mirrored": self.mirrored,
        }


def _stage(value: str) -> str:
    # as MLflow spells stages: "production" -> "Production", "NONE" -> "None"
    stage = value.capitalize()
    if stage not in versions.STAGES:
        raise InputError(
            f"stage: {value[:40]!r} is not a stage; use one of {', '.join(versions.STAGES)}",
            field="stage",
        )
    return stage


def _model_row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(registered_models).where(registered_models.c.name == name)).first()
    if row is None:
        raise NotFound(f"model {name!r} is not registered", model=name)
    return row


def transition(
    session: Session,
    principal: Principal,
    ref: str,
    to_stage: str,
    *,
    reason: str,
    override_reason: str | None = None,
    kind: Kind = "promote",
) -> Transition:
    """Move ``ref`` (``name@version``) to ``to_stage`` if its gates and approvals allow.

    ``override_reason`` (admins only) lets a transition pass failing gates; the reason and
    the failing results are recorded. Approvals are never overridden.
    """
    target = _stage(to_stage)
    permission = Permission.MODELS_ROLLBACK if kind == "rollback" else Permission.MODELS_TRANSITION
    principal.require(permission)
    if override_reason is not None:
        principal.require(Permission.MODELS_OVERRIDE)
        if not override_reason.strip():
            raise InputError("override_reason: an override needs a reason", field="override_reason")
    if not reason or not reason.strip():
        raise InputError("reason: say why this transition is made", field="reason")
    name, which = versions.parse_ref(ref)
    # a version plain MLflow code registered a moment ago is recorded here, not refused
    discovery.get_version(session, (name, which))

    with session.store.read() as conn:
        model = _model_row(conn, name)
        candidate = versions._get(conn, name, which)
        if kind == "rollback" and (
            target != "Production" or candidate.version != model.previous_production_version
        ):
            # a rollback skips the gates, so it may only re-instate the version that was
            # Production just before the current one
            raise InputError(
                f"a rollback re-instates {name}@{model.previous_production_version} "
                f"(the previous Production version), not {candidate.ref}",
                field="ref",
            )
        if candidate.stage == target:
            raise Conflict(
                f"{candidate.ref} is already in {target}", model=name, version=candidate.version
            )
        production = (
            versions._get(conn, name, model.production_version)
            if model.production_version not in (None, candidate.version)
            else None
        )
        given = approvals_for(conn, name, candidate.version, target)

    results: list[GateResult] = []
    approval_list = [a.to_dict() | {"at": a.at.isoformat()} for a in given]
    if target in _GATED and kind == "promote":
        specs = (model.gate_policy or {}).get(target, [])
        gates = build_gates(specs, where=f"gate_policy.{target}")
        context = GateContext(candidate, production, target, session=session, principal=principal)
        results = evaluate_all(gates, context)
        required = int((model.approval_policy or {}).get(target, 0))
        authors = authors_of(candidate)
        valid = {a.approver for a in given if a.approver not in authors}
        failing = [r for r in results if not r.passed]
        problems = []
        if failing and override_reason is None:
            problems.append(
                "failing gates: " + "; ".join(f"{r.gate}: {r.message}" for r in failing)
            )
        if len(valid) < required:
            problems.append(f"approvals: {len(valid)} of {required} required for {target}")
        if problems:
            _refuse(session, principal, candidate, target, results, approval_list, problems)

    now = datetime.now(UTC)
    gate_dicts = [r.to_dict() for r in results]
    demoted: int | None = None
    values: dict[str, Any] = {"revision": model.revision + 1}
    if target == "Production":
        demoted = (
            model.production_version if model.production_version != candidate.version else None
        )
        values |= {"production_version": candidate.version}
        if demoted is not None:
            values |= {"previous_production_version": demoted}
    elif candidate.stage == "Production":
        values |= {"production_version": None, "previous_production_version": candidate.version}
    if kind == "rollback":
        values |= {"previous_production_version": demoted}

    try:
        with session.store.transaction() as conn:
            won = conn.execute(
                update(registered_models)
                .where(
                    registered_models.c.name == name, registered_models.c.revision == model.revision
                )
                .values(**values)
            ).rowcount
            if won != 1:
                raise Conflict(
                    f"model {name!r} changed while this transition was evaluated (another "
                    "transition won the race); nothing was written, look again and retry",
                    model=name,
                    version=candidate.version,
                )
            if demoted is not None:
                _set_stage(conn, name, demoted, "Archived", now)
                conn.execute(
                    insert(stage_transitions).values(
                        model_name=name,
                        version=demoted,
                        from_stage="Production",
                        to_stage="Archived",
                        kind="demote",
                        actor=principal.name,
                        at=now,
                        reason=f"replaced by version {candidate.version}",
                        gate_results=[],
                        approvals=[],
                        override_reason=None,
                    )
                )
            _set_stage(conn, name, candidate.version, target, now)
            conn.execute(
                insert(stage_transitions).values(
                    model_name=name,
                    version=candidate.version,
                    from_stage=candidate.stage,
                    to_stage=target,
                    kind=kind,
                    actor=principal.name,
                    at=now,
                    reason=reason,
                    gate_results=gate_dicts,
                    approvals=approval_list,
                    override_reason=override_reason,
                )
            )
            security.record(
                conn,
                actor=principal.name,
                action=f"model.{kind}",
                target=f"model:{candidate.ref}",
                payload={
                    "from": candidate.stage,
                    "to": target,
                    "reason": reason,
                    "gate_results": gate_dicts,
                    "approvals": approval_list,
                    "override_reason": override_reason,
                    "demoted": demoted,
                },
            )
    except IntegrityError:
        raise Conflict(
            f"model {name!r} changed while this transition was evaluated; retry", model=name
        ) from None
    mirrored = mirror_aliases(session, name)
    return Transition(
        name,
        candidate.version,
        candidate.stage,
        target,
        kind,
        principal.name,
        now,
        reason,
        gate_dicts,
        approval_list,
        override_reason,
        demoted,
        mirrored,
    )


def _set_stage(conn: Connection, name: str, version: int, stage: str, now: datetime) -> None:
    conn.execute(
        update(model_versions)
        .where(
            model_versions.c.model_name == name,
            model_versions.c.version == version,
        )
        .values(stage=stage, stage_changed_at=now)
    )


def _refuse(
    session: Session,
    principal: Principal,
    candidate: versions.ModelVersion,
    target: str,
    results: list[GateResult],
    approval_list: list[dict[str, Any]],
    problems: list[str],
) -> None:
    gate_dicts = [r.to_dict() for r in results]
    with session.store.transaction() as conn:
        security.record(
            conn,
            actor=principal.name,
            action="model.transition.refused",
            target=f"model:{candidate.ref}",
            payload={
                "to": target,
                "problems": problems,
                "gate_results": gate_dicts,
                "approvals": approval_list,
            },
        )
    raise CheckFailed(
        f"{candidate.ref} may not enter {target}: " + " | ".join(problems),
        gate_results=gate_dicts,
        approvals=approval_list,
        model=candidate.model_name,
        version=candidate.version,
    )


def rollback(session: Session, principal: Principal, name: str, *, reason: str) -> Transition:
    """Put the previous Production version back into Production (gates already passed once)."""
    principal.require(Permission.MODELS_ROLLBACK)
    discovery.require_model(session, name)
    with session.store.read() as conn:
        model = _model_row(conn, name)
    if model.previous_production_version is None:
        raise NotFound(
            f"model {name!r} has no previous Production version to roll back to", model=name
        )
    return transition(
        session,
        principal,
        f"{name}@{model.previous_production_version}",
        "Production",
        reason=reason,
        kind="rollback",
    )


def history(session: Session, ref: str) -> list[dict[str, Any]]:
    name, which = versions.parse_ref(ref)
    discovery.get_version(session, (name, which))
    with session.store.read() as conn:
        version = versions._get(conn, name, which)
        rows = conn.execute(
            select(stage_transitions)
            .where(
                stage_transitions.c.model_name == name,
                stage_transitions.c.version == version.version,
            )
            .order_by(stage_transitions.c.id)
        )
        return [dict(r._mapping) for r in rows]


def mirror_aliases(session: Session, name: str) -> bool:
    """Point MLflow's ``staging``/``production`` aliases at the versions in those stages."""
    from mlflow.exceptions import MlflowException

    with session.store.read() as conn:
        rows = conn.execute(
            select(model_versions.c.version, model_versions.c.stage).where(
                model_versions.c.model_name == name,
                model_versions.c.stage.in_(("Staging", "Production")),
            )
        ).all()
    try:
        client = tracking.client(session.workspace)
        for alias, stage in (("production", "Production"), ("staging", "Staging")):
            in_stage = [r.version for r in rows if r.stage == stage]
            if in_stage:
                client.set_registered_model_alias(name, alias, str(max(in_stage)))
            else:
                with contextlib.suppress(MlflowException):  # no such alias
                    client.delete_registered_model_alias(name, alias)
    except MlflowException as exc:
        _log.warning("could not mirror stages of %s as MLflow aliases: %s", name, exc)
        return False
    return True


def set_approval_policy(
    session: Session, principal: Principal, name: str, stage: str, required: int
) -> dict[str, int]:
    principal.require(Permission.IDENTITIES_ADMIN)
    target = _stage(stage)
    if target not in _GATED:
        raise InputError(f"stage: approval policies are for {' and '.join(_GATED)}", field="stage")
    if not 0 <= required <= 10:
        raise InputError("required: must be between 0 and 10", field="required")
    discovery.require_model(session, name)
    with session.store.transaction() as conn:
        model = _model_row(conn, versions.validate_name(name))
        policy = {**(model.approval_policy or {}), target: required}
        conn.execute(
            update(registered_models)
            .where(registered_models.c.name == name)
            .values(approval_policy=policy, revision=model.revision + 1)
        )
        security.record(
            conn,
            actor=principal.name,
            action="model.approval_policy.set",
            target=f"model:{name}",
            payload={"stage": target, "required": required},
        )
    return policy


def set_gate_policy(
    session: Session, principal: Principal, name: str, stage: str, gates: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    principal.require(Permission.IDENTITIES_ADMIN)
    target = _stage(stage)
    if target not in _GATED:
        raise InputError(f"stage: gate policies are for {' and '.join(_GATED)}", field="stage")
    build_gates(gates, where=f"gate_policy.{target}")  # refuse unknown or malformed gates now
    discovery.require_model(session, name)
    with session.store.transaction() as conn:
        model = _model_row(conn, versions.validate_name(name))
        policy = {**(model.gate_policy or {}), target: list(gates)}
        conn.execute(
            update(registered_models)
            .where(registered_models.c.name == name)
            .values(gate_policy=policy, revision=model.revision + 1)
        )
        security.record(
            conn,
            actor=principal.name,
            action="model.gate_policy.set",
            target=f"model:{name}",
            payload={"stage": target, "gates": list(gates)},
        )
    return policy

"""Who owns a model and who is paged for it: the readiness report's last question.

Both are free text (a person, a team, a rota's address); setting them is audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from modelward import security
from modelward.errors import InputError, NotFound
from modelward.registry.tables import registered_models
from modelward.registry.versions import RegisteredModel, get_model, validate_name
from modelward.security import Permission, Principal

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["set_owner"]

_MAX = 200


def _contact(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if not cleaned or len(cleaned) > _MAX or any(ch in cleaned for ch in "\r\n\t"):
        raise InputError(f"{field}: 1-{_MAX} characters on one line", field=field)
    return cleaned


def set_owner(
    session: Session,
    principal: Principal,
    name: str,
    *,
    owner: str | None = None,
    on_call: str | None = None,
) -> RegisteredModel:
    """Set the owner and/or the on-call contact of model ``name`` (audited, one transaction).

    An argument left ``None`` keeps its current value.
    """
    principal.require(Permission.MODELS_WRITE)
    validate_name(name)
    new_owner, new_on_call = _contact(owner, "owner"), _contact(on_call, "on_call")
    if new_owner is None and new_on_call is None:
        raise InputError("give an owner, an on-call contact or both", field="owner")
    with session.store.transaction() as conn:
        row = conn.execute(
            select(registered_models).where(registered_models.c.name == name)
        ).first()
        if row is None:
            raise NotFound(f"model {name!r} is not registered", model=name)
        values = {
            "owner": new_owner if new_owner is not None else row.owner,
            "on_call": new_on_call if new_on_call is not None else row.on_call,
        }
        conn.execute(
            update(registered_models)
            .where(registered_models.c.name == name)
            .values(**values, revision=row.revision + 1)
        )
        security.record(
            conn,
            actor=principal.name,
            action="model.owner.set",
            target=f"model:{name}",
            payload=values,
        )
    return get_model(session, name)

"""Kill switches: a policy, or every policy (``*``), paused and resumed, each audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from modelward import security
from modelward.errors import InputError
from modelward.retraining.tables import retrain_switches
from modelward.security import Permission, Principal

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["set_switch", "switch_states"]

EVERY_POLICY = "*"


def switch_states(session: Session) -> dict[str, dict[str, Any]]:
    """scope ("*" or a policy's name) -> its switch (``enabled``, ``reason``, who, when)."""
    with session.store.read() as conn:
        rows = conn.execute(select(retrain_switches)).all()
    return {r.scope: dict(r._mapping) for r in rows}


def set_switch(
    session: Session,
    principal: Principal,
    scope: str,
    *,
    enabled: bool,
    reason: str,
) -> None:
    """Pause (``enabled=False``) or resume a policy, or every policy with ``scope="*"``.
    A paused policy still looks at its triggers and records "block" decisions, so what
    it would have done is visible; it starts nothing."""
    principal.require(Permission.RETRAINING_OPERATE)
    if not reason.strip():
        raise InputError("reason: say why the switch changes (it is audited)", field="reason")
    with session.store.transaction() as conn:
        conn.execute(delete(retrain_switches).where(retrain_switches.c.scope == scope))
        conn.execute(
            insert(retrain_switches).values(
                scope=scope,
                enabled=enabled,
                reason=reason[:500],
                changed_by=principal.name,
                changed_at=datetime.now(UTC),
            )
        )
        security.record(
            conn,
            actor=principal.name,
            action="retraining.resumed" if enabled else "retraining.paused",
            target=f"retraining:{scope}",
            payload={"reason": reason[:500]},
        )

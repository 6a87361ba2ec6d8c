"""What monitoring has found so far, for people looking back: runs over time, alerts.

Read-only views over the rows :func:`~modelward.monitoring.runs.run_monitor` and the
alert rule write; the dashboard draws drift per feature over these runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from modelward.monitoring.tables import alert_states, monitor_runs

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["list_alerts", "list_runs"]


def list_runs(session: Session, endpoint: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` stored runs of ``endpoint``, newest first (their results)."""
    with session.store.read() as conn:
        rows = conn.execute(
            select(monitor_runs.c.result)
            .where(monitor_runs.c.endpoint == endpoint)
            .order_by(monitor_runs.c.created_at.desc())
            .limit(max(1, min(limit, 1000)))
        ).scalars()
        return [dict(r) for r in rows]


def list_alerts(session: Session, endpoint: str | None = None) -> list[dict[str, Any]]:
    """Every alert's current state (``firing`` or ``resolved``), newest fired first."""
    query = select(alert_states).order_by(alert_states.c.fired_at.desc())
    if endpoint is not None:
        query = query.where(alert_states.c.endpoint == endpoint)
    with session.store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]

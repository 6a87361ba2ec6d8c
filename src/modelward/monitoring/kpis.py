"""Business KPIs tied to an endpoint: time series of events, judged in the monitor's windows.

A KPI event is (endpoint, name, time, value): the conversion rate of an hour, the share
of fraud caught in a day. Events are keyed by (endpoint, name, time), so sending one
again changes nothing and a changed value corrects it. Each KPI's good direction is
declared in ``[monitoring] kpis`` (``conversion = "up"``); a monitor run compares the
mean of the window's events with the mean of the ``baseline_windows`` windows of the same
length before it, and a relative change of ``max_kpi_change`` or more *against* the good
direction is a KPI moving the wrong way, which the alert rule counts as evidence as it
does a fall of realised AUC. Fewer than ``min_events`` events on either side: unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import insert, select, update

from modelward import security
from modelward.errors import InputError
from modelward.monitoring.labels import parse_time
from modelward.monitoring.tables import kpi_events
from modelward.security import Permission, Principal

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["KpiChange", "KpiIngest", "ingest_kpis", "kpi_changes", "kpi_names"]

MAX_EVENTS = 100_000


@dataclass(frozen=True)
class KpiIngest:
    received: int
    stored: int
    updated: int
    duplicates: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class KpiChange:
    name: str
    #: "up" or "down": the declared good direction
    good: str
    window_mean: float | None
    baseline_mean: float | None
    #: (window - baseline) / |baseline|; ``None`` when either side has too few events
    change: float | None
    #: the change is at least the limit, against the good direction
    wrong_way: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _validate(
    rows: Iterable[Mapping[str, Any]], known: Mapping[str, str]
) -> dict[tuple[str, datetime], float]:
    checked: dict[tuple[str, datetime], float] = {}
    for i, row in enumerate(rows):
        if i >= MAX_EVENTS:
            raise InputError(f"kpis: at most {MAX_EVENTS:,} per batch", field="kpis")
        if not isinstance(row, Mapping):
            raise InputError(f"kpis[{i}]: expected an object", field=f"kpis[{i}]")
        name = row.get("name")
        if not isinstance(name, str) or name not in known:
            declared = ", ".join(sorted(known)) or "none declared"
            raise InputError(
                f"kpis[{i}].name: {str(name)[:40]!r} is not a KPI of [monitoring] kpis "
                f"({declared})",
                field=f"kpis[{i}].name",
            )
        value = row.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise InputError(
                f"kpis[{i}].value: a finite number is required", field=f"kpis[{i}].value"
            )
        if row.get("at") is None:
            raise InputError(f"kpis[{i}].at: the event's time is required", field=f"kpis[{i}].at")
        checked[(name, parse_time(row["at"], f"kpis[{i}].at"))] = float(value)
    return checked


def ingest_kpis(
    session: Session, principal: Principal, endpoint: str, rows: Iterable[Mapping[str, Any]]
) -> KpiIngest:
    """Store KPI events (``name``, ``at``, ``value``) for ``endpoint``, audited."""
    principal.require(Permission.LABELS_WRITE)
    known = session.workspace.settings.monitoring.kpis
    checked = _validate(rows, known)
    now = datetime.now(UTC)
    stored = updated = duplicates = 0
    with session.store.transaction() as conn:
        for (name, at), value in checked.items():
            where = (
                (kpi_events.c.endpoint == endpoint)
                & (kpi_events.c.name == name)
                & (kpi_events.c.at == at)
            )
            old = conn.execute(select(kpi_events.c.value).where(where)).scalar_one_or_none()
            if old is None:
                conn.execute(
                    insert(kpi_events).values(
                        endpoint=endpoint,
                        name=name,
                        at=at,
                        value=value,
                        ingested_by=principal.name,
                        ingested_at=now,
                    )
                )
                stored += 1
            elif old == value:
                duplicates += 1
            else:
                conn.execute(update(kpi_events).where(where).values(value=value))
                updated += 1
        result = KpiIngest(len(checked), stored, updated, duplicates)
        if stored or updated:
            security.record(
                conn,
                actor=principal.name,
                action="monitoring.kpis_ingested",
                target=f"endpoint:{endpoint}",
                payload=result.to_dict(),
            )
    return result


def _values(session: Session, endpoint: str, name: str, start: datetime, end: datetime) -> Any:
    with session.store.read() as conn:
        values = (
            conn.execute(
                select(kpi_events.c.value).where(
                    kpi_events.c.endpoint == endpoint,
                    kpi_events.c.name == name,
                    kpi_events.c.at >= start,
                    kpi_events.c.at < end,
                )
            )
            .scalars()
            .all()
        )
    return values


def kpi_changes(
    session: Session,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    max_change: float,
    baseline_windows: int = 7,
    min_events: int = 3,
) -> list[KpiChange]:
    """Each declared KPI's window mean against the ``baseline_windows`` windows before."""
    out = []
    length = end - start
    for name, good in sorted(session.workspace.settings.monitoring.kpis.items()):
        now = _values(session, endpoint, name, start, end)
        before = _values(session, endpoint, name, start - baseline_windows * length, start)
        if len(now) < min_events or len(before) < min_events:
            mean_now = float(np.mean(now)) if now else None
            mean_before = float(np.mean(before)) if before else None
            out.append(KpiChange(name, good, mean_now, mean_before, None, False))
            continue
        mean_now, mean_before = float(np.mean(now)), float(np.mean(before))
        change = (mean_now - mean_before) / max(abs(mean_before), 1e-12)
        wrong = change <= -max_change if good == "up" else change >= max_change
        out.append(KpiChange(name, good, mean_now, mean_before, change, wrong))
    return out


def kpi_names(session: Session, endpoint: str) -> dict[str, int]:
    """The KPIs with events on ``endpoint``: name -> number of events (readiness reads it)."""
    from sqlalchemy import func

    with session.store.read() as conn:
        rows = conn.execute(
            select(kpi_events.c.name, func.count())
            .where(kpi_events.c.endpoint == endpoint)
            .group_by(kpi_events.c.name)
            .order_by(kpi_events.c.name)
        )
        return {str(name): int(count) for name, count in rows}

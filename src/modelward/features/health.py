"""Health of features: freshness, null rates, cardinality and min/max/mean per feature.

Computed by DuckDB over the values a materialization wrote (or, on demand, over the
latest value per entity in the source), stored per view, and compared with the previous
computation so a jump in null rate or mean is visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
from sqlalchemy import Connection, insert, select

from modelward.data import quote_ident
from modelward.features.definitions import FeatureView
from modelward.features.sources import EVENT_TS
from modelward.features.tables import feature_stats

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["FeatureStats", "compare", "compute_stats", "history", "record_stats"]

FeatureStats = dict[str, Any]
_NUMERIC = ("int64", "float64")


def compute_stats(
    con: duckdb.DuckDBPyConnection, relation: str, view: FeatureView, now: datetime | None = None
) -> FeatureStats:
    """Statistics of ``relation`` (a table or subquery with the view's columns)."""
    now = now or datetime.now(UTC)
    parts = ["count(*)", f"max({EVENT_TS})"]
    for feat in view.features:
        col = quote_ident(feat.name)
        parts.append(f"count({col})")
        parts.append(f"count(DISTINCT {col})")
        if feat.dtype in _NUMERIC:
            parts += [f"min({col})::DOUBLE", f"max({col})::DOUBLE", f"avg({col})::DOUBLE"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchall()[0]
    rows, newest = int(row[0]), row[1]
    i = 2
    features: dict[str, dict[str, Any]] = {}
    for feat in view.features:
        non_null, distinct = int(row[i]), int(row[i + 1])
        i += 2
        entry: dict[str, Any] = {
            "null_rate": (1 - non_null / rows) if rows else None,
            "cardinality": distinct,
        }
        if feat.dtype in _NUMERIC:
            entry.update(min=row[i], max=row[i + 1], mean=row[i + 2])
            i += 3
        features[feat.name] = entry
    return {
        "rows": rows,
        "newest_event": newest.astimezone(UTC).isoformat() if newest is not None else None,
        "freshness_s": (now - newest).total_seconds() if newest is not None else None,
        "features": features,
    }


def compare(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any]:
    """Per feature: how null rate and mean moved since the previous statistics."""
    if not previous:
        return {}
    out: dict[str, Any] = {}
    for name, cur in current.get("features", {}).items():
        prev = previous.get("features", {}).get(name)
        if prev is None:
            continue
        delta: dict[str, Any] = {}
        if cur.get("null_rate") is not None and prev.get("null_rate") is not None:
            delta["null_rate"] = cur["null_rate"] - prev["null_rate"]
        if cur.get("mean") is not None and prev.get("mean") is not None:
            delta["mean"] = cur["mean"] - prev["mean"]
        delta["cardinality"] = cur.get("cardinality", 0) - prev.get("cardinality", 0)
        out[name] = delta
    return out


def record_stats(
    conn: Connection,
    view: FeatureView,
    stats: FeatureStats,
    run_id: str | None,
    note: str | None = None,
) -> None:
    previous = latest(conn, view.name)
    body = {**stats, "change": compare(previous, stats)}
    conn.execute(
        insert(feature_stats).values(
            view=view.name,
            definition_hash=view.definition_hash,
            run_id=run_id,
            computed_at=datetime.now(UTC),
            rows=stats["rows"],
            stats=body,
            note=note,
        )
    )


def latest(conn: Connection, view: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(feature_stats.c.stats)
        .where(feature_stats.c.view == view)
        .order_by(feature_stats.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return dict(row) if row is not None else None


def history(session: Session, view: str, limit: int = 20) -> list[dict[str, Any]]:
    """The view's statistics, newest first."""
    with session.store.read() as conn:
        rows = conn.execute(
            select(feature_stats)
            .where(feature_stats.c.view == view)
            .order_by(feature_stats.c.id.desc())
            .limit(limit)
        ).all()
    return [
        {
            "computed_at": r.computed_at,
            "definition_hash": r.definition_hash,
            "run_id": r.run_id,
            "rows": r.rows,
            "note": r.note,
            **r.stats,
        }
        for r in rows
    ]

"""The step cache index: cache key -> stored outputs, in the metadata database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from modelward.pipelines.cache import ObjectStore, StoredValue
from modelward.pipelines.tables import pipeline_cache

__all__ = ["lookup", "remember"]


def lookup(conn: Connection, key: str, objects: ObjectStore) -> dict[str, StoredValue] | None:
    """The outputs cached under ``key``, if every file is still present."""
    row = conn.execute(select(pipeline_cache.c.outputs).where(pipeline_cache.c.key == key)).first()
    if row is None:
        return None
    outputs = {k: StoredValue.from_dict(v) for k, v in row.outputs.items()}
    return outputs if all(objects.exists(v) for v in outputs.values()) else None


def remember(
    conn: Connection,
    *,
    key: str,
    pipeline: str,
    step: str,
    outputs: Mapping[str, StoredValue],
    run_id: str,
) -> None:
    """Record ``outputs`` under ``key``; an entry already there (a racing run) is kept."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(pipeline_cache).values(
                    key=key,
                    pipeline=pipeline,
                    step=step,
                    outputs={k: v.to_dict() for k, v in outputs.items()},
                    run_id=run_id,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        pass

"""Materialization: the latest value per entity of a time range, into the online store.

Incremental runs start at the view's watermark (the end of its last succeeded run on this
online store) and end now; backfills take an explicit range. Each run:

1. selects, with DuckDB, the latest row per entity whose event time is in ``[start, end)``;
2. checks the view's validation rules on that whole batch and refuses it (fail closed,
   nothing written, the run recorded as ``refused`` with its report) if any is broken;
3. writes it in chunks; the store keeps a record only when it is not older than the one
   stored, so a re-run of the same range (after an interruption too) leaves the same state;
4. records rows, range, duration and statistics, and only then moves the watermark.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pyarrow as pa
from sqlalchemy import func, insert, select, update

from modelward.data import connect, quote_ident, quote_literal
from modelward.errors import ContractViolation, InputError
from modelward.features.definitions import FeatureView
from modelward.features.health import compute_stats, record_stats
from modelward.features.online.base import OnlineStore, Record
from modelward.features.packing import entity_key, pack
from modelward.features.sources import (
    CREATED_TS,
    EVENT_TS,
    check_source,
    latest_relation,
    resolve_view_source,
    source_columns,
)
from modelward.features.tables import feature_runs
from modelward.features.validation import check_rules
from modelward.security import record as audit

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["MaterializationRun", "materialize_view", "watermark"]

Mode = Literal["incremental", "backfill"]
#: called with (rows written so far, rows in the run)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class MaterializationRun:
    id: str
    view: str
    mode: Mode
    start: datetime | None
    end: datetime
    status: str
    rows: int
    duration_s: float
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "view": self.view,
            "mode": self.mode,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat(),
            "status": self.status,
            "rows": self.rows,
            "duration_s": round(self.duration_s, 3),
            "report": self.report,
        }


def watermark(session: Session, view: FeatureView, store: OnlineStore) -> datetime | None:
    """The end of the last succeeded run of this view layout into this store."""
    with session.store.read() as conn:
        value: datetime | None = conn.execute(
            select(func.max(feature_runs.c.end)).where(
                feature_runs.c.namespace == view.online_namespace,
                feature_runs.c.online_store == store.label,
                feature_runs.c.status == "succeeded",
            )
        ).scalar_one_or_none()
    return value


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InputError(
            f"{name} {value.isoformat()} is naive; give a timezone-aware time", field=name
        )
    return value.astimezone(UTC) if value is not None else None


def _records(batch: pa.RecordBatch, view: FeatureView) -> list[Record]:
    keys = [batch.column(k).to_pylist() for k in view.join_keys]
    events = batch.column(EVENT_TS).cast(pa.int64()).to_pylist()
    created = batch.column(CREATED_TS).cast(pa.int64()).to_pylist()
    dtypes = [f.dtype for f in view.features]
    values = [batch.column(f.name).to_pylist() for f in view.features]
    key_strings = (
        [str(k) for k in keys[0]]
        if len(keys) == 1
        else [entity_key(k) for k in zip(*keys, strict=True)]
    )
    return [
        Record(key, ev, cr or 0, pack(row, dtypes))
        for key, ev, cr, row in zip(
            key_strings, events, created, zip(*values, strict=True), strict=True
        )
    ]


def _contract_violations(
    session: Session, con: duckdb.DuckDBPyConnection, view: FeatureView
) -> list[dict[str, Any]]:
    """The batch checked against the view's data contract by the data context's validator.

    The batch is written to a temporary Parquet file under its source column names, so the
    contract reads it exactly as it would read the source.
    """
    from modelward.data import Source, validate

    assert view.contract is not None
    tmp_dir = session.workspace.tmp_dir
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / f"features-batch-{uuid.uuid4().hex}.parquet"
    cols = ", ".join(
        [
            *(quote_ident(k) for k in view.join_keys),
            f"{EVENT_TS} AS {quote_ident(view.timestamp)}",
            *(quote_ident(f) for f in view.feature_names),
        ]
    )
    try:
        con.execute(
            f"COPY (SELECT {cols} FROM batch) TO {quote_literal(str(path))} (FORMAT parquet)"
        ).fetchall()
        report = validate(
            Source("parquet", str(path)), view.contract, settings=session.workspace.settings.data
        )
    finally:
        path.unlink(missing_ok=True)
    return [
        {
            "rule": f"contract {view.contract.name}: {r.rule}",
            "column": r.column or "",
            "rows": r.violations or 0,
            "message": r.message,
            "examples": [{k: e.get(k) for k in view.join_keys} for e in r.examples],
        }
        for r in report.failures
    ]


def _finish(
    session: Session,
    run_id: str,
    view: FeatureView,
    status: str,
    rows: int,
    started: float,
    report: dict[str, Any],
    stats: dict[str, Any] | None,
) -> None:
    with session.store.transaction() as conn:
        conn.execute(
            update(feature_runs)
            .where(feature_runs.c.id == run_id)
            .values(
                status=status,
                rows=rows,
                duration_s=time.monotonic() - started,
                finished_at=datetime.now(UTC),
                report=report,
            )
        )
        if stats is not None:
            record_stats(conn, view, stats, run_id)
        audit(
            conn,
            actor=session.actor,
            action=f"features.materialize.{status}",
            target=f"feature_view:{view.name}",
            payload={"run": run_id, "rows": rows, "definition_hash": view.definition_hash},
        )


def materialize_view(
    session: Session,
    view: FeatureView,
    store: OnlineStore,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    mode: Mode = "incremental",
    batch_rows: int | None = None,
    progress: Progress | None = None,
) -> MaterializationRun:
    """Materialize one view; see the module docstring."""
    end = _aware(end, "end") or datetime.now(UTC)
    start = _aware(start, "start")
    if mode == "incremental" and start is None:
        start = watermark(session, view, store)
    if mode == "incremental" and start is not None and start >= end:
        # already up to date: nothing to read, nothing to record
        return MaterializationRun("", view.name, mode, start, end, "up-to-date", 0, 0.0, {})
    if start is not None and start >= end:
        raise InputError(
            f"start {start.isoformat()} is not before end {end.isoformat()}", field="start"
        )
    batch_rows = batch_rows or session.workspace.settings.features.materialize_batch_rows
    run_id = uuid.uuid4().hex
    started = time.monotonic()
    with session.store.transaction() as conn:
        conn.execute(
            insert(feature_runs).values(
                id=run_id,
                view=view.name,
                definition_hash=view.definition_hash,
                namespace=view.online_namespace,
                online_store=store.label,
                mode=mode,
                start=start,
                end=end,
                status="running",
                rows=0,
                started_at=datetime.now(UTC),
                created_by=session.actor,
            )
        )
    con = connect(session.workspace.settings.data)
    written = 0
    try:
        source = resolve_view_source(view, session)
        check_source(view, source_columns(con, source, view.name), source)
        keys = ", ".join(quote_ident(k) for k in view.join_keys)
        relation = latest_relation(
            view, source, start.isoformat() if start else None, end.isoformat()
        )
        con.execute(f"CREATE TEMP TABLE batch AS {relation}").fetchall()
        total = int(con.execute("SELECT count(*) FROM batch").fetchall()[0][0])
        violations = [v.to_dict() for v in check_rules(con, "batch", view, total)]
        if view.contract is not None:
            violations += _contract_violations(session, con, view)
        report: dict[str, Any] = {"source": source.label, "source_hash": source.content_hash}
        if violations:
            report["violations"] = violations
            _finish(session, run_id, view, "refused", 0, started, report, None)
            raise ContractViolation(
                f"materialization of {view.name!r} refused: "
                + "; ".join(
                    f"rule {v['rule']!r} broken by {v['rows']} row(s), e.g. {v['examples'][:2]}"
                    for v in violations
                )
                + "; nothing was written",
                view=view.name,
                run=run_id,
                violations=report["violations"],
            )
        stats = compute_stats(con, "batch", view, now=end)
        reader = con.sql(f"SELECT * FROM batch ORDER BY {keys}").to_arrow_reader(batch_rows)
        for batch in reader:
            store.write(view.online_namespace, _records(batch, view))
            written += batch.num_rows
            if progress is not None:
                progress(written, total)
        newest = stats.get("newest_event")
        report.update(rows=total, newest_event=newest)
        _finish(session, run_id, view, "succeeded", written, started, report, stats)
    except ContractViolation:
        raise
    except BaseException as exc:
        # the run stays unfinished for the watermark; what was written is rewritten next time
        _finish(
            session,
            run_id,
            view,
            "failed",
            written,
            started,
            {"error": f"{type(exc).__name__}: {exc}"},
            None,
        )
        raise
    finally:
        con.close()
    return MaterializationRun(
        run_id,
        view.name,
        mode,
        start,
        end,
        "succeeded",
        written,
        time.monotonic() - started,
        report,
    )

"""Delayed labels: the ground truth for logged predictions, joined by request id.

Labels arrive days after the prediction (a churn is known a month later), from a file
(``modelward labels ingest FILE``) or the REST API (``POST /api/v1/labels``). Each is
keyed by (endpoint, request id), so sending the same label again changes nothing
(counted as a duplicate) and sending a different value for the same id corrects it
(counted as updated). A label whose request id the prediction log does not hold is kept
and counted as ``unknown``, not refused: its prediction may still be in a gateway's
writer queue, or already pruned by retention; it joins as soon as the prediction is there.

The batch is checked whole before anything is written (a bad row names its index and
field), then written with one audit entry in one transaction.

Realised performance (:func:`realised_performance`) joins a window of the log with the
labels of its request ids: coverage, delay, and for 0/1 labels against a probability, AUC,
accuracy, Brier score and expected calibration error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert, select, update

from modelward import security
from modelward.errors import InputError
from modelward.monitoring.predictions import open_workspace_log
from modelward.monitoring.tables import labels as labels_table
from modelward.security import Permission, Principal

if TYPE_CHECKING:
    from modelward.monitoring.predictions import PredictionSink
    from modelward.session import Session

__all__ = [
    "LabelIngest",
    "Performance",
    "ingest_labels",
    "parse_time",
    "prediction_scores",
    "realised_performance",
]

#: ids per ``IN (...)`` lookup: far below SQLite's and Postgres's parameter limits
_CHUNK = 1_000
MAX_LABELS = 100_000


@dataclass(frozen=True)
class LabelIngest:
    received: int
    #: new labels written
    stored: int
    #: labels whose value changed (a correction)
    updated: int
    #: labels already stored with the same value (nothing written)
    duplicates: int
    #: request ids the prediction log does not hold (kept; they join when it does)
    unknown: int
    #: joined by entity key: rows with no prediction of their entity in the window
    unmatched: int = 0

    def to_dict(self) -> dict[str, int]:
        data = asdict(self)
        if not self.unmatched:
            del data["unmatched"]  # the request-id join's answer, as the API documents it
        return data


def parse_time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise InputError(
                f"{where}: {str(value)[:40]!r} is not an ISO 8601 time", field=where
            ) from None
    if parsed.tzinfo is None:
        raise InputError(f"{where}: give a time zone, e.g. +00:00", field=where)
    return parsed.astimezone(UTC)


def _validate(rows: Iterable[Mapping[str, Any]], now: datetime) -> dict[str, tuple[Any, datetime]]:
    checked: dict[str, tuple[Any, datetime]] = {}
    for i, row in enumerate(rows):
        if i >= MAX_LABELS:
            raise InputError(
                f"labels: at most {MAX_LABELS:,} per batch; split the file", field="labels"
            )
        if not isinstance(row, Mapping):
            raise InputError(f"labels[{i}]: expected an object", field=f"labels[{i}]")
        rid = row.get("request_id")
        if not isinstance(rid, str) or not 0 < len(rid) <= 200:
            raise InputError(
                f"labels[{i}].request_id: a string of 1 to 200 characters is required",
                field=f"labels[{i}].request_id",
            )
        value = row.get("label")
        if isinstance(value, float) and not np.isfinite(value):
            value = None
        if not isinstance(value, bool | int | float | str):
            raise InputError(
                f"labels[{i}].label: a number, a boolean or a class name is required",
                field=f"labels[{i}].label",
            )
        at = row.get("labelled_at")
        when = now if at is None else parse_time(at, f"labels[{i}].labelled_at")
        checked[rid] = (value, when)  # a repeated id within one batch: the last one counts
    return checked


def ingest_labels(
    session: Session,
    principal: Principal,
    endpoint: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    log: PredictionSink | None = None,
) -> LabelIngest:
    """Store ``rows`` (``request_id``, ``label``, optional ``labelled_at``) for ``endpoint``.

    ``log`` is the prediction log the ids are looked up in (default: the workspace's).
    """
    principal.require(Permission.LABELS_WRITE)
    now = datetime.now(UTC)
    checked = _validate(rows, now)
    ids = list(checked)
    opened = log is None
    sink = log if log is not None else open_workspace_log(session)
    try:
        logged = sink.find_request_ids(endpoint, ids)
    finally:
        if opened:
            sink.close()
    stored = updated = duplicates = 0
    with session.store.transaction() as conn:
        known: dict[str, Any] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            known.update(
                conn.execute(
                    select(labels_table.c.request_id, labels_table.c.value).where(
                        labels_table.c.endpoint == endpoint,
                        labels_table.c.request_id.in_(chunk),
                    )
                ).all()
            )
        fresh = []
        for rid, (value, when) in checked.items():
            if rid not in known:
                fresh.append(
                    {
                        "endpoint": endpoint,
                        "request_id": rid,
                        "value": value,
                        "labelled_at": when,
                        "ingested_by": principal.name,
                        "ingested_at": now,
                    }
                )
            elif known[rid] == value:
                duplicates += 1
            else:
                conn.execute(
                    update(labels_table)
                    .where(labels_table.c.endpoint == endpoint, labels_table.c.request_id == rid)
                    .values(value=value, labelled_at=when, ingested_by=principal.name)
                )
                updated += 1
        if fresh:
            conn.execute(insert(labels_table), fresh)
            stored = len(fresh)
        result = LabelIngest(len(checked), stored, updated, duplicates, len(ids) - len(logged))
        if stored or updated:
            security.record(
                conn,
                actor=principal.name,
                action="monitoring.labels_ingested",
                target=f"endpoint:{endpoint}",
                payload=result.to_dict(),
            )
    return result


def prediction_scores(window: pa.Table) -> np.ndarray | None:
    """The window's predictions as one number per row (NaN where there is none), or
    ``None`` when they are not numbers (a struct's ``score``/``probability`` counts)."""
    column = window.column("prediction")
    kind = column.type
    if pa.types.is_struct(kind):
        names = [kind.field(i).name for i in range(kind.num_fields)]
        for name in ("score", "probability", "proba", "prediction"):
            if name in names:
                column = pa.chunked_array(
                    [chunk.field(name) for chunk in column.chunks], kind.field(name).type
                )
                kind = column.type
                break
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return np.asarray(column.to_numpy(zero_copy_only=False), float)
    return None


@dataclass(frozen=True)
class Performance:
    rows: int
    labelled: int
    #: labelled / rows
    coverage: float
    #: median hours from the prediction to its label
    median_delay_h: float | None
    auc: float | None = None
    accuracy: float | None = None
    brier: float | None = None
    #: expected calibration error over 10 equal-width bins
    ece: float | None = None
    positive_rate: float | None = None
    #: segment field -> its value -> the same figures for those rows
    segments: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from scipy.stats import rankdata  # type: ignore[import-untyped]

    positives = int(y.sum())
    negatives = len(y) - positives
    if not positives or not negatives:
        return None
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    which = np.minimum((p * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    predicted = np.bincount(which, weights=p, minlength=bins)
    observed = np.bincount(which, weights=y, minlength=bins)
    filled = counts > 0
    return float(np.abs(observed[filled] - predicted[filled]).sum() / len(y))


def _labels_for(session: Session, endpoint: str, ids: list[str]) -> dict[str, tuple[Any, datetime]]:
    found: dict[str, tuple[Any, datetime]] = {}
    with session.store.read() as conn:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for rid, value, at in conn.execute(
                select(
                    labels_table.c.request_id, labels_table.c.value, labels_table.c.labelled_at
                ).where(labels_table.c.endpoint == endpoint, labels_table.c.request_id.in_(chunk))
            ):
                found[rid] = (value, at)
    return found


def _score(window: pa.Table, found: Mapping[str, tuple[Any, datetime]]) -> Performance:
    ids = window.column("request_id").to_pylist()
    rows = len(ids)
    index = [i for i, rid in enumerate(ids) if rid in found]
    if not index:
        return Performance(rows, 0, 0.0, None)
    arrived = window.column("at_us").to_numpy()[index]
    delays = [
        (found[ids[i]][1].timestamp() * 1e6 - at) / 3.6e9
        for i, at in zip(index, arrived, strict=True)
    ]
    base = Performance(rows, len(index), len(index) / rows, float(np.median(delays)))
    scores = prediction_scores(window)
    values = [found[ids[i]][0] for i in index]
    if scores is None or not all(v in (0, 1) for v in values):
        return base
    p = scores[index]
    y = np.asarray(values, float)
    keep = ~np.isnan(p)
    p, y = np.clip(p[keep], 0.0, 1.0), y[keep]
    if not len(y):
        return base
    return Performance(
        **{
            **asdict(base),
            "auc": _auc(y, p),
            "accuracy": float(((p >= 0.5) == (y == 1)).mean()),
            "brier": float(((p - y) ** 2).mean()),
            "ece": _ece(y, p),
            "positive_rate": float(y.mean()),
        }
    )


def realised_performance(
    session: Session, endpoint: str, window: pa.Table, *, segments: Sequence[str] = ()
) -> Performance:
    """Join ``window`` with the stored labels of its request ids and score it, overall and
    per value of each input field in ``segments`` (``plan``: basic, pro, ...)."""
    found = _labels_for(session, endpoint, window.column("request_id").to_pylist())
    overall = _score(window, found)
    if not segments or not overall.labelled:
        return overall
    inputs = window.column("inputs").combine_chunks()
    names = {inputs.type.field(i).name for i in range(inputs.type.num_fields)}
    by_segment: dict[str, dict[str, dict[str, Any]]] = {}
    for segment in segments:
        if segment not in names:
            continue
        values = pc.cast(inputs.field(segment), pa.string())
        by_segment[segment] = {
            str(value): _score(window.filter(pc.equal(values, value)), found).to_dict()
            for value in pc.unique(values.drop_null()).to_pylist()
        }
    return Performance(**{**asdict(overall), "segments": by_segment})

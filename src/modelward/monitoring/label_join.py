"""Labels joined by entity key and time: when the outcome names a customer, not a request.

A churn label says "customer 42 churned on 3 March", not which prediction it answers.
With ``key`` (an input the endpoint logs, e.g. ``customer_id``) and ``within`` (the stated
window), a label row ``{customer_id, at, label}`` joins the **latest** prediction for that
entity at or before ``at`` and no older than ``within``: the score that was acted on. The
joined rows then go through :func:`~modelward.monitoring.labels.ingest_labels` as if they
had carried their request ids (duplicates, corrections and the audit entry as there); a
row with no prediction in its window is counted as ``unmatched``, not stored, since a
label with no prediction to join says nothing about the model.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from modelward.errors import InputError
from modelward.monitoring.labels import MAX_LABELS, LabelIngest, ingest_labels, parse_time
from modelward.monitoring.predictions import open_workspace_log

if TYPE_CHECKING:
    from modelward.monitoring.predictions import PredictionSink
    from modelward.security import Principal
    from modelward.session import Session

__all__ = ["ingest_labels_by_entity"]


def _checked(
    rows: Iterable[Mapping[str, Any]], key: str
) -> list[tuple[str, int, Mapping[str, Any]]]:
    found = []
    for i, row in enumerate(rows):
        if i >= MAX_LABELS:
            raise InputError(
                f"labels: at most {MAX_LABELS:,} per batch; split the file", field="labels"
            )
        if not isinstance(row, Mapping):
            raise InputError(f"labels[{i}]: expected an object", field=f"labels[{i}]")
        entity = row.get(key)
        if entity is None or entity == "":
            raise InputError(
                f"labels[{i}].{key}: the entity key is required", field=f"labels[{i}].{key}"
            )
        if "at" not in row:
            raise InputError(
                f"labels[{i}].at: when the outcome happened is required (ISO 8601 with a zone)",
                field=f"labels[{i}].at",
            )
        at = parse_time(row["at"], f"labels[{i}].at")
        found.append((str(entity), int(at.timestamp() * 1e6), row))
    return found


def ingest_labels_by_entity(
    session: Session,
    principal: Principal,
    endpoint: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    key: str,
    within: timedelta,
    log: PredictionSink | None = None,
) -> LabelIngest:
    """Store ``rows`` (``<key>``, ``at``, ``label``, optional ``labelled_at``), each joined
    to the latest prediction of its entity in ``[at - within, at]``."""
    if within <= timedelta(0):
        raise InputError("within: the join window must be longer than zero", field="within")
    labelled = _checked(rows, key)
    if not labelled:
        return LabelIngest(0, 0, 0, 0, 0)
    span = int(within.total_seconds() * 1e6)
    opened = log is None
    sink = log if log is not None else open_workspace_log(session)
    try:
        window = sink.read_window(
            endpoint,
            start_us=min(at for _, at, _ in labelled) - span,
            end_us=max(at for _, at, _ in labelled) + 1,
        )
        if window.num_rows:
            inputs = window.column("inputs").combine_chunks()
            names = [inputs.type.field(i).name for i in range(inputs.type.num_fields)]
            if key not in names:
                raise InputError(
                    f"key: {key!r} is not an input {endpoint} logs (its inputs: "
                    f"{', '.join(names[:20])})",
                    field="key",
                )
            entities = pc.cast(inputs.field(key), "string").to_pylist()
        else:
            entities = []
        times = window.column("at_us").to_pylist()
        ids = window.column("request_id").to_pylist()
        history: dict[str, list[tuple[int, str]]] = {}
        for entity, at_us, rid in zip(entities, times, ids, strict=True):
            if entity is not None:
                history.setdefault(entity, []).append((at_us, rid))
        for seen in history.values():
            seen.sort()
        joined = []
        for entity, at, row in labelled:
            seen = history.get(entity, [])
            i = bisect.bisect_right(seen, (at, "\uffff")) - 1
            if i >= 0 and seen[i][0] >= at - span:
                extra = {k: row[k] for k in ("labelled_at",) if row.get(k) is not None}
                joined.append({"request_id": seen[i][1], "label": row.get("label"), **extra})
        result = ingest_labels(session, principal, endpoint, joined, log=sink)
    finally:
        if opened:
            sink.close()
    return replace(result, received=len(labelled), unmatched=len(labelled) - len(joined))

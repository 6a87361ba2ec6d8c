"""Delayed labels over the metadata store (SQLite and Postgres): idempotent, corrected, checked
row by row, kept for pruned predictions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward import security
from modelward.config import Workspace
from modelward.errors import InputError, PermissionDenied
from modelward.monitoring import (
    ingest_labels,
)
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.security import Principal, Role
from modelward.session import Session
from tests.unit.monitoring.support import T0_US, logged

DEV = Principal("dev", Role.DEVELOPER)


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as opened:
        yield opened


@pytest.fixture
def log() -> MemoryPredictionSink:
    return MemoryPredictionSink()


def test_labels_are_idempotent_corrections_update_and_unknown_ids_count(
    session: Session, log: MemoryPredictionSink
) -> None:
    log.write(logged(5))
    ids = [f"churn-1-1-{i}" for i in range(5)]
    rows = [{"request_id": rid, "label": i % 2} for i, rid in enumerate(ids)]
    first = ingest_labels(
        session, DEV, "churn", [*rows, {"request_id": "ghost", "label": 1}], log=log
    )
    assert first.to_dict() == {
        "received": 6,
        "stored": 6,
        "updated": 0,
        "duplicates": 0,
        "unknown": 1,
    }
    again = ingest_labels(session, DEV, "churn", rows, log=log)
    assert (again.stored, again.duplicates, again.updated) == (0, 5, 0)
    fixed = ingest_labels(session, DEV, "churn", [{"request_id": ids[0], "label": 1}], log=log)
    assert (fixed.stored, fixed.updated) == (0, 1)
    with session.store.read() as conn:
        audited = list(security.entries(conn, action="monitoring.labels_ingested"))
    assert len(audited) == 2  # the duplicate-only batch changed nothing and wrote no entry


def test_a_bad_label_row_names_its_index_and_nothing_is_stored(
    session: Session, log: MemoryPredictionSink
) -> None:
    rows = [{"request_id": "a", "label": 1}, {"request_id": "b"}]
    with pytest.raises(InputError, match=r"labels\[1\]\.label") as caught:
        ingest_labels(session, DEV, "churn", rows, log=log)
    assert caught.value.details["field"] == "labels[1].label"
    stamp = {"request_id": "a", "label": 1, "labelled_at": "2026-01-01T00:00:00"}
    with pytest.raises(InputError, match=r"labels\[0\]\.labelled_at: give a time zone"):
        ingest_labels(session, DEV, "churn", [stamp], log=log)
    assert ingest_labels(session, DEV, "churn", [rows[0]], log=log).stored == 1


def test_a_viewer_may_not_send_labels(session: Session, log: MemoryPredictionSink) -> None:
    with pytest.raises(PermissionDenied, match="labels:write"):
        ingest_labels(session, Principal("v", Role.VIEWER), "churn", [], log=log)


def test_labels_for_predictions_already_pruned_are_kept_as_unknown(
    session: Session, log: MemoryPredictionSink
) -> None:
    log.write(logged(3))
    assert log.prune(T0_US + 10_000_000) == 3  # retention removed them
    result = ingest_labels(
        session, DEV, "churn", [{"request_id": "churn-1-1-0", "label": 1}], log=log
    )
    assert (result.stored, result.unknown) == (1, 1)

"""Labels joined by entity key and time: the latest prediction within the window, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from modelward.config import Workspace
from modelward.errors import InputError
from modelward.monitoring import PredictionRecord, ingest_labels_by_entity
from modelward.monitoring.predictions.memory import MemoryPredictionSink
from modelward.monitoring.tables import labels
from modelward.security import Principal, Role
from modelward.session import Session

DEV = Principal("dev", Role.DEVELOPER)
DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def scored(rid: str, customer: int, at: datetime) -> PredictionRecord:
    return PredictionRecord(
        rid,
        int(at.timestamp() * 1e6),
        "churn",
        "churn",
        "3",
        {"customer_id": customer},
        0.7,
        2.0,
        False,
    )


@pytest.fixture
def setup(sqlite_workspace: Workspace) -> Iterator[tuple[Session, MemoryPredictionSink]]:
    log = MemoryPredictionSink()
    log.write(
        [
            scored("r1", 42, T0),  # scored, then scored again a week later:
            scored("r2", 42, T0 + 7 * DAY),  # the later score is the one acted on
            scored("r3", 7, T0),
            scored("r4", 9, T0 + 20 * DAY),  # after the outcome: never joined to it
        ]
    )
    with Session(sqlite_workspace) as s:
        yield s, log


def stored(session: Session) -> dict[str, object]:
    with session.store.read() as conn:
        return dict(conn.execute(select(labels.c.request_id, labels.c.value)).all())


def test_each_outcome_joins_the_latest_prediction_of_its_entity_in_the_window(
    setup: tuple[Session, MemoryPredictionSink],
) -> None:
    session, log = setup
    rows = [
        {"customer_id": 42, "at": (T0 + 10 * DAY).isoformat(), "label": 1},
        {"customer_id": "7", "at": (T0 + 40 * DAY).isoformat(), "label": 0},  # too late
        {"customer_id": 9, "at": (T0 + 10 * DAY).isoformat(), "label": 1},  # scored after
        {"customer_id": 5, "at": (T0 + DAY).isoformat(), "label": 0},  # never scored
    ]
    result = ingest_labels_by_entity(
        session, DEV, "churn", rows, key="customer_id", within=30 * DAY, log=log
    )
    assert (result.received, result.stored, result.unmatched) == (4, 1, 3)
    assert stored(session) == {"r2": 1}
    # the window's edge holds: exactly `within` old still joins (text keys match numbers)
    edge = [{"customer_id": "7", "at": (T0 + 30 * DAY).isoformat(), "label": 0}]
    again = ingest_labels_by_entity(
        session, DEV, "churn", edge, key="customer_id", within=30 * DAY, log=log
    )
    assert (again.stored, again.unmatched) == (1, 0) and stored(session)["r3"] == 0


@pytest.mark.parametrize(
    ("rows", "key", "says"),
    [
        ([{"at": T0.isoformat(), "label": 1}], "customer_id", r"labels\[0\]\.customer_id"),
        ([{"customer_id": 1, "label": 1}], "customer_id", r"labels\[0\]\.at: .*required"),
        ([{"customer_id": 1, "at": "2026-03-01", "label": 1}], "customer_id", "time zone"),
        ([{"plan": "pro", "at": T0.isoformat(), "label": 1}], "plan", "'plan' is not an input"),
    ],
)
def test_bad_rows_and_an_unknown_key_are_refused_naming_the_field(
    setup: tuple[Session, MemoryPredictionSink], rows: list[dict], key: str, says: str
) -> None:
    session, log = setup
    with pytest.raises(InputError, match=says):
        ingest_labels_by_entity(session, DEV, "churn", rows, key=key, within=30 * DAY, log=log)
    assert stored(session) == {}

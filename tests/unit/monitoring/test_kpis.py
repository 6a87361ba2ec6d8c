"""Business KPIs on an endpoint: events stored once, corrected by a new value, each bad
event named by its index and field; a window judged against the windows before it, a
change at the limit against the good direction counting, too few events unknown."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelward.config import Workspace
from modelward.errors import InputError, PermissionDenied
from modelward.monitoring.kpis import ingest_kpis, kpi_changes, kpi_names
from modelward.security import entries
from modelward.security.roles import Principal, Role
from modelward.session import Session

DEV = Principal("dev", Role.DEVELOPER)
START = datetime(2026, 6, 10, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def session(workspace_dir: Any, workspace_env: dict[str, str]) -> Iterator[Session]:
    (workspace_dir / "modelward.toml").write_text(
        '[monitoring]\nkpis = {conversion = "up", complaints = "down"}\n'
    )
    with Session(Workspace.open(workspace_dir, environ=workspace_env)) as s:
        yield s


def events(name: str, start: datetime, values: list[float]) -> list[dict[str, Any]]:
    return [
        {"name": name, "at": (start + timedelta(minutes=10 * i)).isoformat(), "value": v}
        for i, v in enumerate(values)
    ]


def test_an_event_sent_again_is_a_duplicate_and_a_new_value_corrects_it(session: Session) -> None:
    batch = events("conversion", START, [0.1, 0.2])
    assert ingest_kpis(session, DEV, "churn", batch).to_dict() == {
        "received": 2,
        "stored": 2,
        "updated": 0,
        "duplicates": 0,
    }
    again = ingest_kpis(session, DEV, "churn", batch)
    assert (again.stored, again.duplicates) == (0, 2)
    corrected = ingest_kpis(session, DEV, "churn", [{**batch[0], "value": 0.15}])
    assert (corrected.updated, corrected.stored) == (1, 0)
    assert kpi_names(session, "churn") == {"conversion": 2}
    with session.store.read() as conn:
        audited = [e.payload for e in entries(conn, action="monitoring.kpis_ingested")]
    assert [a["stored"] for a in audited] == [2, 0]  # the all-duplicates batch wrote nothing


@pytest.mark.parametrize(
    ("row", "field", "says"),
    [
        ({"name": "revenue", "at": START.isoformat(), "value": 1}, "kpis[1].name", "is not a KPI"),
        (
            {"name": "conversion", "at": START.isoformat(), "value": math.nan},
            "kpis[1].value",
            "a finite number",
        ),
        (
            {"name": "conversion", "at": START.isoformat(), "value": True},
            "kpis[1].value",
            "a finite number",
        ),
        (
            {"name": "conversion", "at": START.isoformat(), "value": "0.1"},
            "kpis[1].value",
            "a finite number",
        ),
        ({"name": "conversion", "value": 0.1}, "kpis[1].at", "the event's time is required"),
        ("conversion=0.1", "kpis[1]", "expected an object"),
    ],
)
def test_a_bad_event_is_named_by_index_and_field_and_nothing_is_stored(
    session: Session, row: Any, field: str, says: str
) -> None:
    good = events("conversion", START, [0.1])[0]
    with pytest.raises(InputError, match=says) as info:
        ingest_kpis(session, DEV, "churn", [good, row])
    assert info.value.details["field"] == field
    assert kpi_names(session, "churn") == {}


def test_an_unknown_name_lists_the_declared_kpis_and_a_viewer_is_refused(session: Session) -> None:
    with pytest.raises(InputError, match=r"\(complaints, conversion\)"):
        ingest_kpis(session, DEV, "churn", [{"name": "x", "at": START.isoformat(), "value": 1}])
    with pytest.raises(PermissionDenied):
        ingest_kpis(session, Principal("v", Role.VIEWER), "churn", [])


def test_a_fall_of_exactly_the_limit_against_up_is_the_wrong_way(session: Session) -> None:
    ingest_kpis(session, DEV, "churn", events("conversion", START - 7 * HOUR, [0.10] * 3))
    ingest_kpis(session, DEV, "churn", events("conversion", START, [0.08] * 3))
    (complaints, conversion) = kpi_changes(session, "churn", START, START + HOUR, max_change=0.2)
    assert conversion.change == pytest.approx(-0.2)
    assert conversion.wrong_way is True
    # a 20% fall is not wrong with a 25% limit
    (_, lenient) = kpi_changes(session, "churn", START, START + HOUR, max_change=0.25)
    assert lenient.wrong_way is False
    assert (complaints.change, complaints.wrong_way) == (None, False)  # no events: unknown


def test_a_rise_is_the_wrong_way_only_for_a_kpi_that_should_go_down(session: Session) -> None:
    ingest_kpis(session, DEV, "churn", events("complaints", START - 2 * HOUR, [10.0] * 3))
    ingest_kpis(session, DEV, "churn", events("complaints", START, [13.0] * 3))
    (complaints, _) = kpi_changes(session, "churn", START, START + HOUR, max_change=0.2)
    assert complaints.change == pytest.approx(0.3) and complaints.wrong_way is True


def test_fewer_events_than_the_minimum_on_either_side_is_unknown(session: Session) -> None:
    ingest_kpis(session, DEV, "churn", events("conversion", START - 3 * HOUR, [0.10] * 3))
    ingest_kpis(session, DEV, "churn", events("conversion", START, [0.01] * 2))
    (_, conversion) = kpi_changes(session, "churn", START, START + HOUR, max_change=0.2)
    assert conversion.change is None and conversion.wrong_way is False
    assert conversion.window_mean == pytest.approx(0.01)
    assert conversion.baseline_mean == pytest.approx(0.10)

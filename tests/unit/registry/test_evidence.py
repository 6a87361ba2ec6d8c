"""Operational evidence: appended with who recorded it and its audit entry, about a concrete
version or another subject (never a stage), read newest first, the latest being the answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelward.config import Workspace
from modelward.errors import InputError
from modelward.registry.evidence import latest_evidence, list_evidence, record_evidence
from modelward.security import entries
from modelward.session import Session


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


def test_evidence_about_a_version_is_split_into_model_and_version_and_audited(
    session: Session,
) -> None:
    made = record_evidence(
        session,
        "load_test",
        "churn@3",
        summary="p99 41 ms at 180 rps",
        detail={"p99_ms": 41.0},
        passed=True,
        endpoint="churn",
        actor="ci",
    )
    assert (made.model_name, made.version, made.recorded_by) == ("churn", 3, "ci")
    assert made.pointer == f"evidence:{made.id}"
    (stored,) = list_evidence(session)
    assert stored.to_dict() == {**made.to_dict(), "recorded_at": stored.recorded_at}
    with session.store.read() as conn:
        (entry,) = list(entries(conn, action="evidence.load_test"))
    assert (entry.actor, entry.target) == ("ci", "model:churn@3")
    assert entry.payload == {"evidence": made.id, "passed": True, "summary": "p99 41 ms at 180 rps"}


def test_the_latest_of_a_kind_for_a_subject_is_the_answer_and_filters_hold(
    session: Session,
) -> None:
    record_evidence(
        session, "skew_check", "view:stats", summary="1% differ", detail={}, passed=False
    )
    record_evidence(
        session, "skew_check", "view:stats", summary="0% differ", detail={}, passed=True
    )
    record_evidence(session, "skew_check", "view:other", summary="x", detail={})
    latest = latest_evidence(session, "skew_check", "view:stats")
    assert latest is not None and (latest.summary, latest.passed) == ("0% differ", True)
    assert latest.model_name is None and latest.version is None
    assert [e.summary for e in list_evidence(session, subject="view:stats")] == [
        "0% differ",
        "1% differ",
    ]
    assert latest_evidence(session, "load_test", "view:stats") is None
    assert len(list_evidence(session, kind="skew_check", limit=0)) == 1  # at least one row


@pytest.mark.parametrize(
    ("kind", "subject", "field", "says"),
    [
        ("load test", "churn@3", "kind", "is not an evidence kind"),
        ("k" * 33, "churn@3", "kind", "is not an evidence kind"),
        ("load_test", "", "subject", "1-200 characters"),
        ("load_test", "x" * 201, "subject", "1-200 characters"),
        ("load_test", "churn@production", "subject", "names a stage; evidence is about a version"),
    ],
)
def test_a_bad_kind_or_subject_names_its_field_and_nothing_is_stored(
    session: Session, kind: str, subject: str, field: str, says: str
) -> None:
    with pytest.raises(InputError, match=says) as info:
        record_evidence(session, kind, subject, summary="s", detail={})
    assert info.value.details["field"] == field
    assert list_evidence(session) == []

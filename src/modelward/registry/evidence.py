"""Operational evidence: what was measured or checked about a version, a view or an endpoint.

A load test of ``churn@3`` on the ``churn`` endpoint, the last ``reproduce`` verdict of a
version, a skew check of a feature view, a deployable bundle built from a version: each
is appended here with who recorded it and when, and read back by the readiness report,
the ``readiness`` gate and the dashboard. Rows are never changed; the latest of a kind
for a subject is the current answer, the older ones are its history.

>>> record_evidence(session, "load_test", "churn@3", summary="p99 41 ms at 180 rps",
...                 detail={...}, endpoint="churn", passed=True)  # doctest: +SKIP
>>> latest_evidence(session, "load_test", "churn@3")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, insert, select

from modelward import security
from modelward.errors import InputError
from modelward.registry.tables import evidence
from modelward.registry.versions import parse_ref

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["EVIDENCE_KINDS", "Evidence", "latest_evidence", "list_evidence", "record_evidence"]

#: the kinds of evidence modelward records itself; others may be added by plugins
EVIDENCE_KINDS = ("load_test", "reproduce", "skew_check", "bundle")
_MAX_SUBJECT = 200


@dataclass(frozen=True)
class Evidence:
    id: int
    kind: str
    #: ``NAME@VERSION`` for a version, ``view:<name>`` for a feature view
    subject: str
    model_name: str | None
    version: int | None
    endpoint: str | None
    passed: bool | None
    summary: str
    detail: dict[str, Any]
    recorded_by: str
    recorded_at: datetime

    @property
    def pointer(self) -> str:
        """Where a person finds it again: ``modelward`` evidence id, stable across runs."""
        return f"evidence:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pointer": self.pointer,
            "kind": self.kind,
            "subject": self.subject,
            "model": self.model_name,
            "version": self.version,
            "endpoint": self.endpoint,
            "passed": self.passed,
            "summary": self.summary,
            "detail": self.detail,
            "recorded_by": self.recorded_by,
            "recorded_at": self.recorded_at,
        }


def _from_row(row: Row[Any]) -> Evidence:
    return Evidence(
        row.id,
        row.kind,
        row.subject,
        row.model_name,
        row.version,
        row.endpoint,
        row.passed,
        row.summary,
        dict(row.detail or {}),
        row.recorded_by,
        row.recorded_at,
    )


def _subject_parts(subject: str) -> tuple[str | None, int | None]:
    """``churn@3`` -> ("churn", 3); any other subject is not a version."""
    if "@" not in subject:
        return None, None
    name, which = parse_ref(subject)
    return (name, which) if isinstance(which, int) else (None, None)


def record_evidence(
    session: Session,
    kind: str,
    subject: str,
    *,
    summary: str,
    detail: Mapping[str, Any],
    passed: bool | None = None,
    endpoint: str | None = None,
    actor: str | None = None,
) -> Evidence:
    """Append one piece of evidence, with its audit entry in the same transaction.

    ``subject`` is a concrete version (``churn@3``, not ``churn@production``: evidence is
    about what was measured) or a non-version subject such as ``view:customer_stats``.
    """
    if not isinstance(kind, str) or not kind.replace("_", "").isalnum() or len(kind) > 32:
        raise InputError(f"kind: {kind!r} is not an evidence kind (letters and '_')", field="kind")
    if not subject or len(subject) > _MAX_SUBJECT:
        raise InputError(f"subject: 1-{_MAX_SUBJECT} characters", field="subject")
    if "@" in subject and _subject_parts(subject)[1] is None:
        raise InputError(
            f"subject: {subject!r} names a stage; evidence is about a version (NAME@3)",
            field="subject",
        )
    model_name, version = _subject_parts(subject)
    who = actor or session.actor
    at = datetime.now(UTC)
    body = dict(detail)
    with session.store.transaction() as conn:
        inserted = conn.execute(
            insert(evidence).values(
                kind=kind,
                subject=subject,
                model_name=model_name,
                version=version,
                endpoint=endpoint,
                passed=passed,
                summary=summary,
                detail=body,
                recorded_by=who,
                recorded_at=at,
            )
        ).inserted_primary_key
        new_id = int(inserted[0]) if inserted else 0
        security.record(
            conn,
            actor=who,
            action=f"evidence.{kind}",
            target=f"model:{subject}" if model_name else subject,
            payload={"evidence": new_id, "passed": passed, "summary": summary},
        )
    return Evidence(
        int(new_id), kind, subject, model_name, version, endpoint, passed, summary, body, who, at
    )


def list_evidence(
    session: Session,
    *,
    kind: str | None = None,
    subject: str | None = None,
    endpoint: str | None = None,
    limit: int = 100,
) -> list[Evidence]:
    """Evidence, newest first, filtered by kind, subject and endpoint."""
    query = select(evidence).order_by(evidence.c.id.desc()).limit(max(1, min(limit, 10_000)))
    if kind is not None:
        query = query.where(evidence.c.kind == kind)
    if subject is not None:
        query = query.where(evidence.c.subject == subject)
    if endpoint is not None:
        query = query.where(evidence.c.endpoint == endpoint)
    with session.store.read() as conn:
        return [_from_row(r) for r in conn.execute(query)]


def latest_evidence(
    session: Session, kind: str, subject: str, *, endpoint: str | None = None
) -> Evidence | None:
    """The newest evidence of ``kind`` about ``subject`` (on ``endpoint``, if given)."""
    found = list_evidence(session, kind=kind, subject=subject, endpoint=endpoint, limit=1)
    return found[0] if found else None

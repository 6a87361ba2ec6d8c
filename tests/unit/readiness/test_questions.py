"""The readiness report read from evidence: each question's yes, no and unknown, and
evidence and ownership kept with their audit entries.

One workspace per test on placeholder versions (no trained model): the questions read
records, so records are what the tests arrange.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.config import Workspace
from modelward.errors import InputError, PermissionDenied
from modelward.monitoring import ingest_kpis
from modelward.readiness import QUESTIONS, readiness
from modelward.readiness.questions import _features_consistent, _reproducible, _Subject
from modelward.registry import (
    approve,
    get_model,
    get_version,
    latest_evidence,
    list_evidence,
    record_evidence,
    set_owner,
    transition,
)
from modelward.security import Principal, Role, entries, verify
from modelward.serving import Fallback, create_endpoint, parse_spec
from modelward.session import Session
from tests.unit.registry.support import MLFLOW_WARNINGS, admin, placeholder_version, principal

pytestmark = MLFLOW_WARNINGS


LOAD = {"p50_ms": 4.0, "p95_ms": 9.0, "p99_ms": 12.0, "throughput_rps": 300.0}


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    """On every store backend: for what writes the new tables."""
    with Session(workspace) as opened:
        yield opened


@pytest.fixture
def local(sqlite_workspace: Workspace) -> Iterator[Session]:
    """On the embedded store only: for what reads them (the same queries)."""
    with Session(sqlite_workspace) as opened:
        yield opened


def test_evidence_is_appended_audited_and_read_newest_first(session: Session) -> None:
    placeholder_version(session, "churn")
    first = record_evidence(
        session, "load_test", "churn@1", summary="slow", detail=LOAD, passed=False, endpoint="e"
    )
    second = record_evidence(
        session, "load_test", "churn@1", summary="fast", detail=LOAD, passed=True, endpoint="e"
    )
    assert (second.model_name, second.version, second.id) == ("churn", 1, first.id + 1)
    latest = latest_evidence(session, "load_test", "churn@1", endpoint="e")
    assert latest is not None and latest.summary == "fast" and latest.detail == LOAD
    assert latest_evidence(session, "load_test", "churn@1", endpoint="other") is None
    assert [e.summary for e in list_evidence(session, subject="churn@1")] == ["fast", "slow"]
    with session.store.read() as conn:
        assert verify(conn).ok
        logged = list(entries(conn, target="model:churn@1"))
    assert [e.action for e in logged][-2:] == ["evidence.load_test"] * 2
    for bad, field in (("churn@production", "subject"), ("", "subject")):
        with pytest.raises(InputError) as info:
            record_evidence(session, "load_test", bad, summary="x", detail={})
        assert info.value.details["field"] == field
    with pytest.raises(InputError, match="kind"):
        record_evidence(session, "load test!", "churn@1", summary="x", detail={})


def test_owner_and_on_call_are_set_by_writers_only_and_kept(session: Session) -> None:
    placeholder_version(session, "churn")
    boss = admin(session)
    set_owner(session, boss, "churn", owner="risk-team")
    model = set_owner(session, boss, "churn", on_call="pager:risk")
    assert (model.owner, model.on_call) == ("risk-team", "pager:risk")  # one kept, one added
    assert get_model(session, "churn").to_dict()["on_call"] == "pager:risk"
    viewer = principal(session, "vic", Role.VIEWER)
    with pytest.raises(PermissionDenied):
        set_owner(session, viewer, "churn", owner="someone else")
    with pytest.raises(InputError) as info:
        set_owner(session, boss, "churn", owner="two\nlines")
    assert info.value.details["field"] == "owner"


def test_a_bare_version_answers_every_question_and_says_what_to_do(local: Session) -> None:
    placeholder_version(local, "churn")
    report = readiness(local, "churn@1")
    answers = {a.question: a.answer for a in report.answers}
    assert list(answers) == list(QUESTIONS)  # all seven, in order
    assert answers == {
        "reproducible": "no",  # a placeholder has no lineage
        "features_consistent": "unknown",  # nor a record of the feature views it read
        "load_known": "no",
        "alerts": "unknown",  # no endpoint serves it
        "rollback_path": "no",  # a first version has nothing to go back to
        "business_metric": "unknown",
        "owner": "no",
    }
    assert not report.ready and report.endpoint is None
    assert "modelward loadtest" in report.answer("load_known").pointer
    assert "modelward models owner churn" in report.answer("owner").pointer
    data = report.to_dict()
    assert data["ready"] is False and data["answers"][0]["title"] == QUESTIONS["reproducible"]


def test_answers_follow_the_evidence(local: Session) -> None:
    placeholder_version(local, "churn")
    placeholder_version(local, "churn")
    boss = admin(local)
    approve(local, Principal("reviewer", Role.APPROVER), "churn@1", "Production")
    transition(local, boss, "churn@1", "Production", reason="t", override_reason="test")
    spec = parse_spec(
        {
            "name": "churn",
            "model": "churn@2",
            "request": {"x": "float"},
            "fallback": Fallback(response=0.0).model_dump(),
        }
    )
    create_endpoint(local, boss, spec)
    set_owner(local, boss, "churn", owner="risk-team", on_call="pager:risk")
    record_evidence(
        local,
        "load_test",
        "churn@2",
        summary="p99 12 ms",
        detail=LOAD,
        passed=True,
        endpoint="churn",
    )

    report = readiness(local, "churn@2")  # the endpoint serving the model is found
    assert report.endpoint == "churn"
    assert report.answer("owner").answer == "yes"
    load = report.answer("load_known")
    assert load.answer == "yes" and load.pointer.startswith("evidence:")
    assert load.detail["p99_ms"] == 12.0
    rollback = report.answer("rollback_path")  # churn@1 is the target, but has no model
    assert rollback.answer == "no" and "churn@1 cannot be loaded" in rollback.evidence
    alerts = report.answer("alerts")
    assert alerts.answer == "no" and "no monitor run" in alerts.evidence
    assert "webhook_url" in alerts.evidence and alerts.detail["system"]["covered"] is True
    assert report.answer("business_metric").answer == "no"

    # the "yes" of reproducible and features consistent, on a version with full lineage
    version = dataclasses.replace(
        get_version(local, "churn@2"),
        lineage_complete=True,
        lineage_missing=[],
        lineage={"feature_views": [{"name": "customer_stats"}]},
    )
    subject = _Subject(local, version, get_model(local, "churn"), None)
    assert _reproducible(subject).answer == "unknown"  # complete, never reproduced
    record_evidence(
        local,
        "reproduce",
        "churn@2",
        summary="identical",
        detail={"verdict": "identical"},
        passed=True,
    )
    assert _reproducible(subject).answer == "yes"
    assert _features_consistent(subject).answer == "unknown"
    record_evidence(
        local, "skew_check", "view:customer_stats", summary="0% skew", detail={}, passed=True
    )
    assert _features_consistent(subject).answer == "yes"
    record_evidence(
        local, "skew_check", "view:customer_stats", summary="9% skew", detail={}, passed=False
    )
    consistent = _features_consistent(subject)
    assert consistent.answer == "no" and "9% skew" in consistent.evidence


def test_a_declared_kpi_with_events_on_the_endpoint_is_the_business_metric(
    workspace_dir: Path,
) -> None:
    with (workspace_dir / "modelward.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[monitoring]\nkpis = {conversion = "up"}\n')
    with Session(Workspace.open(workspace_dir, environ={"MODELWARD_IDENTITY__USER": "t"})) as s:
        placeholder_version(s, "churn")
        boss = admin(s)
        create_endpoint(
            s, boss, parse_spec({"name": "churn", "model": "churn@1", "request": {"x": "float"}})
        )
        assert readiness(s, "churn@1").answer("business_metric").answer == "no"  # no events
        ingest_kpis(
            s, boss, "churn", [{"name": "conversion", "at": "2026-12-01T00:00:00Z", "value": 0.1}]
        )
        metric = readiness(s, "churn@1").answer("business_metric")
    assert metric.answer == "yes" and "conversion (up, 1 events)" in metric.evidence

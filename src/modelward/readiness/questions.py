"""The readiness report: seven questions about a model version, answered from evidence.

Each answer is ``yes``, ``no`` or ``unknown`` (nothing to judge by yet), with the evidence
it was read from and a pointer a person can follow (an evidence id, a command to run).

| question | reads |
| --- | --- |
| reproducible | lineage completeness and the last ``reproduce`` verdict |
| features consistent | the last skew check of every feature view the version uses |
| load known | the last load test of the version (``modelward loadtest``) |
| alerts | monitor runs and the alert rule on the endpoint, where alerts are sent |
| rollback path | the version a rollback would restore, loadable; a rollback ever tested |
| business metric | KPIs declared (``[monitoring] kpis``) with events on the endpoint |
| owner | an owner and an on-call contact on the model (``modelward models owner``) |

>>> report = readiness(session, "churn@3", endpoint="churn")  # doctest: +SKIP
>>> report.ready, [a.answer for a in report.answers]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from modelward.errors import NotFound

if TYPE_CHECKING:
    from modelward.registry import ModelVersion, RegisteredModel
    from modelward.serving import Endpoint
    from modelward.session import Session

__all__ = ["QUESTIONS", "Answer", "Readiness", "readiness"]

Verdict = Literal["yes", "no", "unknown"]

#: key -> the question as a person asks it, in the report's order
QUESTIONS: dict[str, str] = {
    "reproducible": "Can we reproduce this model?",
    "features_consistent": "Are offline and online features consistent?",
    "load_known": "Do we know latency, throughput and errors under load?",
    "alerts": "Do alerts cover system health, data quality and model behaviour?",
    "rollback_path": "Do we have a rollback path?",
    "business_metric": "Do we know which business metric it should improve?",
    "owner": "Do we know who owns it?",
}


@dataclass(frozen=True)
class Answer:
    question: str
    answer: Verdict
    #: what the answer was read from, in one line
    evidence: str
    #: where to look (``evidence:12``) or what to run to change the answer
    pointer: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return QUESTIONS[self.question]

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "title": self.title,
            "answer": self.answer,
            "evidence": self.evidence,
            "pointer": self.pointer,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Readiness:
    ref: str
    endpoint: str | None
    answers: list[Answer]
    checked_at: datetime

    @property
    def ready(self) -> bool:
        return all(a.answer == "yes" for a in self.answers)

    def answer(self, question: str) -> Answer:
        return next(a for a in self.answers if a.question == question)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "endpoint": self.endpoint,
            "ready": self.ready,
            "checked_at": self.checked_at,
            "answers": [a.to_dict() for a in self.answers],
        }


@dataclass(frozen=True)
class _Subject:
    session: Session
    version: ModelVersion
    model: RegisteredModel
    endpoint: Endpoint | None


# ------------------------------------------------------------------------ the questions


def _reproducible(s: _Subject) -> Answer:
    from modelward.registry import latest_evidence

    v = s.version
    last = latest_evidence(s.session, "reproduce", v.ref)
    detail: dict[str, Any] = {"lineage_complete": v.lineage_complete, "missing": v.lineage_missing}
    if not v.lineage_complete:
        return Answer(
            "reproducible",
            "no",
            f"lineage incomplete: {', '.join(v.lineage_missing)} unknown",
            f"modelward models lineage {v.ref}",
            detail,
        )
    if last is None:
        return Answer(
            "reproducible",
            "unknown",
            "lineage complete; never reproduced",
            f"modelward reproduce {v.ref}",
            detail,
        )
    verdict = last.detail.get("verdict", "?")
    return Answer(
        "reproducible",
        "yes" if last.passed else "no",
        f"lineage complete; last reproduce {verdict} ({last.recorded_at:%Y-%m-%d %H:%M} UTC)",
        last.pointer,
        detail | {"verdict": verdict, "reproduced_run": last.detail.get("reproduced_run")},
    )


def _views(s: _Subject) -> list[str] | None:
    """The feature views the version reads: from its lineage and its endpoint's features."""
    used = s.version.lineage.get("feature_views")
    names = None if used is None else {str(f.get("name")) for f in used if isinstance(f, dict)}
    if s.endpoint is not None and s.endpoint.spec.features:
        names = (names or set()) | {f.partition(":")[0] for f in s.endpoint.spec.features}
    return None if names is None else sorted(names)


def _features_consistent(s: _Subject) -> Answer:
    from modelward.registry import latest_evidence

    views = _views(s)
    if views is None:
        return Answer(
            "features_consistent",
            "unknown",
            "the lineage does not say which feature views the model used",
            f"modelward models lineage {s.version.ref}",
        )
    if not views:
        return Answer(
            "features_consistent",
            "yes",
            "reads no feature view: every input comes with the request (nothing to skew)",
            f"modelward models lineage {s.version.ref}",
            {"views": []},
        )
    checks = {view: latest_evidence(s.session, "skew_check", f"view:{view}") for view in views}
    detail = {
        "views": {v: (e.to_dict() | {"detail": None}) if e else None for v, e in checks.items()}
    }
    unchecked = [v for v, e in checks.items() if e is None]
    failed = [v for v, e in checks.items() if e is not None and not e.passed]
    if failed:
        worst = checks[failed[0]]
        assert worst is not None
        return Answer(
            "features_consistent",
            "no",
            f"skew above threshold: {worst.summary}",
            worst.pointer,
            detail,
        )
    if unchecked:
        return Answer(
            "features_consistent",
            "unknown",
            f"never skew-checked: {', '.join(unchecked)}",
            f"modelward features skew-check {unchecked[0]}",
            detail,
        )
    pointers = ", ".join(e.pointer for e in checks.values() if e)
    return Answer(
        "features_consistent",
        "yes",
        f"last skew check passed on {', '.join(views)}",
        pointers,
        detail,
    )


def _load_known(s: _Subject) -> Answer:
    from modelward.registry import latest_evidence

    name = s.endpoint.name if s.endpoint else None
    last = latest_evidence(s.session, "load_test", s.version.ref, endpoint=name)
    hint = f"modelward loadtest {name or '<endpoint>'} --concurrency 8 --duration 10"
    if last is None:
        return Answer("load_known", "no", f"no load test recorded for {s.version.ref}", hint)
    return Answer(
        "load_known",
        "yes" if last.passed else "no",
        f"{'within' if last.passed else 'OUTSIDE'} budget: {last.summary}",
        last.pointer,
        {
            k: last.detail.get(k)
            for k in ("p50_ms", "p95_ms", "p99_ms", "throughput_rps", "error_rate", "configuration")
        },
    )


def _alerts(s: _Subject) -> Answer:
    from modelward.connections import redact_url
    from modelward.monitoring import latest_run

    if s.endpoint is None:
        return Answer(
            "alerts", "unknown", "no endpoint serves this model", "modelward readiness --endpoint E"
        )
    spec = s.endpoint.spec
    settings = s.session.workspace.settings.monitoring
    try:
        run = latest_run(s.session, spec.name)
    except NotFound:
        run = None
    parts: dict[str, dict[str, Any]] = {
        # the gateway exports latency, errors and fallbacks per endpoint on /metrics, and
        # answers degraded rather than failing when it has a fallback
        "system": {
            "latency_budget_ms": spec.latency_budget_ms,
            "fallback": spec.fallback is not None,
            "covered": spec.fallback is not None,
        },
        "data_quality_and_model": {
            "monitor_run": run.get("id") if run else None,
            "covered": run is not None,
        },
        "destination": {
            "webhook": redact_url(settings.webhook_url) if settings.webhook_url else None,
            "covered": bool(settings.webhook_url),
        },
    }
    missing = [
        why
        for key, why in (
            ("system", "no fallback on the endpoint"),
            ("data_quality_and_model", f"no monitor run (modelward monitor run {spec.name})"),
            ("destination", "alerts go nowhere ([monitoring] webhook_url is empty)"),
        )
        if not parts[key]["covered"]
    ]
    if missing:
        return Answer(
            "alerts", "no", "; ".join(missing), f"modelward monitor run {spec.name}", parts
        )
    run_id = parts["data_quality_and_model"]["monitor_run"]
    return Answer(
        "alerts",
        "yes",
        f"fallback and {spec.latency_budget_ms:g} ms budget; monitor run {run_id}; "
        f"alerts to {parts['destination']['webhook']}",
        f"monitor:{run_id}",
        parts,
    )


def _rollback_path(s: _Subject) -> Answer:
    from modelward.registry import get_version, history

    model, v = s.model, s.version
    target = (
        model.previous_production_version
        if model.production_version == v.version
        else model.production_version
    )
    if target is None or target == v.version:
        return Answer(
            "rollback_path",
            "no",
            "no other version to go back to (a first model: keep a fallback)",
            f"modelward models list {model.name}",
        )
    back = get_version(s.session, f"{model.name}@{target}")
    loadable, why = _loadable(s.session, back.model_uri)
    tested = any(t.get("kind") == "rollback" for t in history(s.session, back.ref))
    detail = {"target": back.ref, "loadable": loadable, "rollback_tested": tested}
    if not loadable:
        return Answer(
            "rollback_path", "no", f"{back.ref} cannot be loaded: {why}", back.model_uri, detail
        )
    return Answer(
        "rollback_path",
        "yes",
        f"{back.ref} ({back.stage}) is loadable"
        + ("; a rollback to it was done before" if tested else "; no rollback tested yet"),
        f"modelward rollback {model.name}",
        detail,
    )


def _loadable(session: Session, model_uri: str) -> tuple[bool, str]:
    """The model's MLmodel file can be read (its flavour and files are there), not loaded."""
    from modelward.registry import using_workspace

    try:
        with using_workspace(session.workspace):
            import mlflow

            info = mlflow.models.get_model_info(model_uri)
    except Exception as exc:  # any failure to find it answers the question: not loadable
        return False, f"{type(exc).__name__}: {str(exc)[:200]}"
    return bool(info.flavors), "flavours: " + ", ".join(info.flavors)


def _business_metric(s: _Subject) -> Answer:
    from modelward.monitoring import kpi_names

    declared = s.session.workspace.settings.monitoring.kpis
    if s.endpoint is None:
        return Answer(
            "business_metric",
            "unknown",
            "no endpoint serves this model (KPIs are tied to an endpoint)",
            "modelward readiness --endpoint E",
        )
    seen = kpi_names(s.session, s.endpoint.name)
    linked = {k: seen[k] for k in declared if k in seen}
    detail = {"declared": dict(declared), "events": seen}
    if linked:
        shown = ", ".join(f"{k} ({declared[k]}, {n} events)" for k, n in linked.items())
        return Answer(
            "business_metric",
            "yes",
            f"KPI {shown}",
            f"modelward monitor run {s.endpoint.name}",
            detail,
        )
    why = (
        f"KPIs declared ({', '.join(declared)}) but no events on {s.endpoint.name}"
        if declared
        else "no KPI declared in [monitoring] kpis"
    )
    return Answer("business_metric", "no", why, "docs/monitoring.md (KPIs)", detail)


def _owner(s: _Subject) -> Answer:
    m = s.model
    detail = {"owner": m.owner, "on_call": m.on_call}
    hint = f"modelward models owner {m.name} --owner TEAM --on-call CONTACT"
    if m.owner and m.on_call:
        return Answer(
            "owner", "yes", f"owner {m.owner}, on call {m.on_call}", f"model:{m.name}", detail
        )
    missing = [
        label for label, value in (("owner", m.owner), ("on-call contact", m.on_call)) if not value
    ]
    return Answer("owner", "no", f"no {' and no '.join(missing)}", hint, detail)


_ASK: dict[str, Callable[[_Subject], Answer]] = {
    "reproducible": _reproducible,
    "features_consistent": _features_consistent,
    "load_known": _load_known,
    "alerts": _alerts,
    "rollback_path": _rollback_path,
    "business_metric": _business_metric,
    "owner": _owner,
}


def _endpoint_for(session: Session, version: ModelVersion, name: str | None) -> Endpoint | None:
    from modelward.registry import parse_ref
    from modelward.serving import Endpoint, get_endpoint, list_endpoints

    if name is not None:
        return get_endpoint(session, name)
    for found in list_endpoints(session):
        if isinstance(found, Endpoint) and parse_ref(found.spec.model)[0] == version.model_name:
            return found
    return None


def readiness(session: Session, ref: str, *, endpoint: str | None = None) -> Readiness:
    """Answer the seven questions for version ``ref`` (``churn@3`` or ``churn@production``).

    ``endpoint`` defaults to the first endpoint serving the model, if any; the questions
    about alerts and KPIs are ``unknown`` without one. Reads only; records nothing.
    """
    from modelward.registry import get_model, get_version

    version = get_version(session, ref)
    subject = _Subject(
        session,
        version,
        get_model(session, version.model_name),
        _endpoint_for(session, version, endpoint),
    )
    answers = []
    for key, ask in _ASK.items():
        try:
            answers.append(ask(subject))
        except Exception as exc:  # one unreadable source must not hide the six others
            answers.append(
                Answer(key, "unknown", f"could not be read: {type(exc).__name__}: {exc}", "--debug")
            )
    return Readiness(
        version.ref,
        subject.endpoint.name if subject.endpoint else None,
        answers,
        datetime.now(UTC),
    )

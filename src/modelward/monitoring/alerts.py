"""Alert rules over monitor runs: fire only when it is actionable, say what to look at.

The built-in rule (the seed's): a version raises an alert when a feature that matters to
it (at least ``min_importance`` of its importance) drifts *and* its realised performance
moves the wrong way (AUC at least ``max_auc_drop`` below the held-out AUC its reference
recorded). Before calling that model drift, the feature pipeline is checked: when one of
the important features also shows a data quality anomaly (a null spike, unseen
categories, a missing column), the alert is a ``data_pipeline_incident`` naming those
features, since retraining on broken inputs would not help. Without labels there is no
performance evidence and nothing fires (the run's conditions say so).

A condition must hold in ``persistence`` consecutive runs of the endpoint before it fires
(one noisy window never pages anyone). A firing alert is sent once, then again only after
``cooldown``; when the condition is gone it is resolved (and that is sent too). An
acknowledged alert (someone is on it: :func:`acknowledge_alert`) sends no reminder; it
still resolves, which clears the acknowledgement, so firing again pages again. Every
state change is written with its audit entry in the run's transaction; delivery (a
signed webhook, retried with backoff) happens after the commit, on a background thread,
so a slow or failing receiver never holds monitoring up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, insert, select, update

from modelward import security
from modelward.errors import Conflict, InputError, NotFound
from modelward.monitoring.tables import alert_states, monitor_runs

if TYPE_CHECKING:
    from modelward.security import Principal
    from modelward.session import Session

__all__ = [
    "AlertChange",
    "AlertPolicy",
    "Condition",
    "acknowledge_alert",
    "apply_alert_policy",
    "conditions_of",
]

#: cleared when an alert resolves or fires anew
_NOT_ACKNOWLEDGED = {"acknowledged_by": None, "acknowledged_at": None, "acknowledge_note": None}

#: "rule": one of ``[[monitoring.rules]]`` (:mod:`~modelward.monitoring.rules`)
Kind = Literal["model_drift", "data_pipeline_incident", "rule"]


@dataclass(frozen=True)
class AlertPolicy:
    """The built-in rule's knobs (``[monitoring]`` in ``modelward.toml``)."""

    min_importance: float = 0.1
    max_auc_drop: float = 0.02
    max_refused_rate: float = 0.05
    min_refused: int = 20
    persistence: int = 2
    cooldown: timedelta = timedelta(hours=6)


@dataclass(frozen=True)
class Condition:
    """What the rule found in one run for one version (held or not)."""

    kind: Kind
    version: str
    #: the important features behind it (drifting, or with the quality anomaly)
    features: list[str]
    message: str
    #: the rule's name, for kind "rule"
    rule: str = ""
    #: consecutive runs before it fires, when it differs from the policy's
    persistence: int | None = None

    @property
    def key(self) -> str:
        scope = f"{self.kind}:{self.rule}" if self.rule else self.kind
        return f"{scope}:{self.version}" if self.version else scope

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}


@dataclass(frozen=True)
class AlertChange:
    """A state change of one alert in this run: what a webhook receives."""

    endpoint: str
    key: str
    #: "firing" (new, or a reminder after the cooldown) or "resolved"
    state: str
    message: str
    features: list[str] = field(default_factory=list)
    run: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def conditions_of(
    versions: Sequence[Mapping[str, Any]],
    importance: Mapping[str, Mapping[str, float]],
    held_out_auc: Mapping[str, float | None],
    policy: AlertPolicy,
    kpis: Sequence[Mapping[str, Any]] = (),
    upstream: Mapping[str, str] | None = None,
) -> tuple[list[Condition], list[str]]:
    """The rule over one run's versions; also the reasons it stayed silent per version.
    ``kpis`` are the endpoint's :class:`~modelward.monitoring.kpis.KpiChange` dicts: one
    moving the wrong way is evidence as a fall of realised AUC is. ``upstream`` names
    where a feature's values came from (:func:`~modelward.monitoring.upstream.
    upstream_sources`); a data pipeline incident quotes it for its broken features."""
    wrong_kpis = [
        f"{k['name']} {k['change']:+.1%} (good: {k['good']})" for k in kpis if k["wrong_way"]
    ]
    found: list[Condition] = []
    notes: list[str] = []
    for v in versions:
        refusal = _refusal_incident(v, policy)
        if refusal is not None:
            found.append(refusal)
            continue
        drift = v.get("drift")
        if not drift:
            notes.append(f"{v['version']}: no reference profile")
            continue
        weights = importance.get(v["version"], {})
        important = [
            f for f in drift["features"] if weights.get(f["feature"], 0.0) >= policy.min_importance
        ]
        drifting = [f["feature"] for f in important if f["status"] == "drift"]
        broken = [f["feature"] for f in important if f["quality"]]
        if not drifting and not broken:
            continue
        perf = v.get("performance") or {}
        auc, base = perf.get("auc"), held_out_auc.get(v["version"])
        evidence = list(wrong_kpis)
        if auc is not None and base is not None and base - auc >= policy.max_auc_drop:
            evidence.insert(0, f"AUC {auc:.3f} against {base:.3f} held out")
        if not evidence:
            signals = ", ".join(drifting or broken)
            if auc is None or base is None:
                why = "no labelled performance and no KPI moving the wrong way to confirm it"
            else:
                why = f"AUC {auc:.3f} holds (held-out {base:.3f}) and no KPI moves the wrong way"
            notes.append(f"{v['version']}: drift on {signals}, but {why}")
            continue
        fall = "; ".join(evidence)
        if broken:
            sources = [f"{f}: {(upstream or {})[f]}" for f in broken if f in (upstream or {})]
            found.append(
                Condition(
                    "data_pipeline_incident",
                    v["version"],
                    broken,
                    f"data pipeline incident: {', '.join(broken)} "
                    f"({'; '.join(a for f in important if f['quality'] for a in f['quality'])}); "
                    f"{fall}: check the upstream source before retraining"
                    + (f" (upstream: {'; '.join(sources)})" if sources else ""),
                )
            )
        else:
            found.append(
                Condition(
                    "model_drift",
                    v["version"],
                    drifting,
                    f"model drift: {', '.join(drifting)} drifted and {fall}",
                )
            )
    return found, notes


def _refusal_incident(v: Mapping[str, Any], policy: AlertPolicy) -> Condition | None:
    """A data pipeline incident when the gateway refused a spike of the version's requests:
    its inputs broke upstream, whatever the answered rest shows; actionable at once."""
    refused = int(v.get("refused") or 0)
    total = refused + int(v.get("rows") or 0)
    if refused < policy.min_refused or refused < policy.max_refused_rate * total:
        return None
    named: Mapping[str, int] = v.get("refused_fields") or {}
    fields = sorted(named, key=lambda f: (-named[f], f))
    which = ", ".join(f"{f} ({named[f]})" for f in fields[:5]) or "no field named"
    return Condition(
        "data_pipeline_incident",
        v["version"],
        fields,
        f"data pipeline incident: {refused} of {total} requests ({refused / total:.0%}) "
        f"refused by the gateway's validation, on {which}: check the upstream source "
        "before retraining",
        persistence=1,
    )


def _held(conn: Connection, endpoint: str, key: str, previous: int) -> bool:
    """Whether ``key`` was a condition in each of the ``previous`` runs before this one."""
    if previous <= 0:
        return True
    rows = (
        conn.execute(
            select(monitor_runs.c.result)
            .where(monitor_runs.c.endpoint == endpoint)
            .order_by(monitor_runs.c.created_at.desc())
            .limit(previous)
        )
        .scalars()
        .all()
    )
    if len(rows) < previous:
        return False
    return all(any(c["key"] == key for c in r.get("conditions", [])) for r in rows)


def apply_alert_policy(
    conn: Connection,
    *,
    endpoint: str,
    run_id: str,
    conditions: Sequence[Condition],
    policy: AlertPolicy,
    now: datetime,
    actor: str,
) -> list[AlertChange]:
    """Move the endpoint's alerts to what this run found (call before storing the run, in
    its transaction); returns the changes to deliver."""
    states = {
        row.key: row
        for row in conn.execute(select(alert_states).where(alert_states.c.endpoint == endpoint))
    }
    changes: list[AlertChange] = []
    current = {c.key: c for c in conditions}
    for key, c in current.items():
        needed = c.persistence or policy.persistence
        if not _held(conn, endpoint, key, needed - 1):
            continue
        row = states.get(key)
        if row is not None and row.state == "firing":
            if now - row.last_sent_at < policy.cooldown:
                continue  # deduplicated: already sent, still within its cooldown
            if row.acknowledged_by is not None:
                continue  # someone is on it: no reminder
            conn.execute(
                update(alert_states)
                .where(alert_states.c.endpoint == endpoint, alert_states.c.key == key)
                .values(last_sent_at=now, message=c.message)
            )
        elif row is not None:
            conn.execute(
                update(alert_states)
                .where(alert_states.c.endpoint == endpoint, alert_states.c.key == key)
                .values(
                    state="firing",
                    fired_at=now,
                    last_sent_at=now,
                    message=c.message,
                    **_NOT_ACKNOWLEDGED,
                )
            )
        else:
            conn.execute(
                insert(alert_states).values(
                    endpoint=endpoint,
                    key=key,
                    state="firing",
                    fired_at=now,
                    last_sent_at=now,
                    message=c.message,
                )
            )
        changes.append(AlertChange(endpoint, key, "firing", c.message, c.features, run_id))
    for key, row in states.items():
        if row.state == "firing" and key not in current:
            conn.execute(
                update(alert_states)
                .where(alert_states.c.endpoint == endpoint, alert_states.c.key == key)
                .values(state="resolved", last_sent_at=now, **_NOT_ACKNOWLEDGED)
            )
            changes.append(
                AlertChange(endpoint, key, "resolved", f"resolved: {row.message}", [], run_id)
            )
    for change in changes:
        security.record(
            conn,
            actor=actor,
            action=f"monitoring.alert_{change.state}",
            target=f"endpoint:{endpoint}",
            payload={"key": change.key, "run": run_id, "message": change.message},
        )
    return changes


def acknowledge_alert(
    session: Session,
    principal: Principal,
    endpoint: str,
    key: str,
    *,
    note: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Say someone is on ``endpoint``'s firing alert ``key``: no reminder is sent until it
    resolves. Refused: an alert that does not exist (404), one that is not firing or is
    already acknowledged (409). The change and its audit entry share one transaction."""
    principal.require(security.Permission.ALERTS_ACKNOWLEDGE)
    if len(note) > 2000:
        raise InputError("note: must be at most 2000 characters", field="note")
    at = now or datetime.now(UTC)
    where = (alert_states.c.endpoint == endpoint, alert_states.c.key == key)
    with session.store.transaction() as conn:
        row = conn.execute(select(alert_states).where(*where)).first()
        if row is None:
            raise NotFound(f"alert {key[:200]!r} on endpoint {endpoint[:128]!r}: no such alert")
        if row.state != "firing":
            raise Conflict(f"alert {key[:200]!r} on {endpoint[:128]!r}: {row.state}, not firing")
        if row.acknowledged_by is not None:
            raise Conflict(
                f"alert {key[:200]!r} on {endpoint[:128]!r}: already acknowledged by "
                f"{row.acknowledged_by}"
            )
        # the state is part of the condition: a run resolving it meanwhile wins
        done = conn.execute(
            update(alert_states)
            .where(
                *where,
                alert_states.c.state == "firing",
                alert_states.c.acknowledged_by.is_(None),
            )
            .values(acknowledged_by=principal.name, acknowledged_at=at, acknowledge_note=note)
        )
        if done.rowcount != 1:
            raise Conflict(f"alert {key[:200]!r} on {endpoint[:128]!r}: changed meanwhile")
        security.record(
            conn,
            actor=principal.name,
            action="monitoring.alert_acknowledged",
            target=f"endpoint:{endpoint}",
            payload={"key": key, "note": note},
        )
        found = conn.execute(select(alert_states).where(*where)).one()
    return dict(found._mapping)

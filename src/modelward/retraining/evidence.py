"""What a policy's triggers and checks read, gathered once per look.

Everything comes through the other contexts' public functions: the serving version from
the registry (the model's Production version), its held-out figures from the reference
profile monitoring stored at registration, the endpoint's recent monitor runs and alert
states, and the snapshots of the datasets its lineage names. Judging is then a pure
function of this record (:mod:`~modelward.retraining.judgement`), and the record is stored
with the decision, so a decision can be read back with what it saw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from modelward.errors import NotFound
from modelward.retraining.tables import retrain_episodes

if TYPE_CHECKING:
    from modelward.retraining.policies import RetrainPolicy
    from modelward.session import Session

__all__ = ["Evidence", "gather"]


@dataclass(frozen=True)
class Evidence:
    now: datetime
    #: "churn@3": the model's Production version (what the endpoint serves), or None
    serving: str | None
    #: the serving version's held-out figures from its reference ("roc_auc", "ece", ...)
    held_out: dict[str, float] = field(default_factory=dict)
    #: the endpoint's newest monitor runs (results), newest first
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: the endpoint's alert states (``monitoring.list_alerts``)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    #: dataset name -> (version the serving version was trained on, newest version)
    datasets: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: datasets whose newest snapshot's schema differs from the trained-on one
    schema_changed: list[str] = field(default_factory=list)
    #: runs (retrain or recalibrate) this policy started today (UTC) and their CPU seconds
    runs_today: int = 0
    cpu_today_s: float = 0.0
    #: the reason a kill switch is off (policy or global), or None
    switched_off: str | None = None

    def version_result(self, run: dict[str, Any]) -> dict[str, Any] | None:
        """The serving version's figures in one monitor run."""
        if self.serving is None:
            return None
        number = self.serving.rpartition("@")[2]
        for v in run.get("versions", []):
            if str(v.get("version")) == number:
                return dict(v)
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["now"] = self.now.isoformat()
        data["runs"] = [
            {"id": r.get("id"), "window_end": r.get("window_end"), "rows": r.get("rows")}
            for r in self.runs
        ]
        data["alerts"] = [
            {"key": a["key"], "state": a["state"], "message": a["message"]} for a in self.alerts
        ]
        return data


def _serving(session: Session, policy: RetrainPolicy) -> Any:
    from modelward import registry

    try:
        return registry.get_version(session, f"{policy.model}@production")
    except NotFound:
        return None


def _datasets(session: Session, version: Any) -> tuple[dict[str, tuple[int, int]], list[str]]:
    from modelward import data

    used = {d["name"]: d for d in (version.lineage.get("datasets") or []) if d.get("name")}
    found: dict[str, tuple[int, int]] = {}
    changed: list[str] = []
    for name, use in sorted(used.items()):
        snaps = data.list_snapshots(session, name)
        if not snaps:
            continue
        newest = snaps[-1]
        found[name] = (int(use.get("version") or 0), newest.version)
        trained = next((s for s in snaps if s.version == use.get("version")), None)
        if trained is not None and trained.schema != newest.schema:
            changed.append(name)
    return found, changed


def _switched_off(session: Session, policy: RetrainPolicy) -> str | None:
    from modelward.retraining.switches import switch_states

    states = switch_states(session)
    for scope in ("*", policy.name):
        state = states.get(scope)
        if state is not None and not state["enabled"]:
            who = "every policy" if scope == "*" else f"policy {scope}"
            return f"kill switch off for {who} by {state['changed_by']}: {state['reason']}"
    return None


def gather(session: Session, policy: RetrainPolicy, now: datetime | None = None) -> Evidence:
    from modelward import monitoring

    now = (now or datetime.now(UTC)).astimezone(UTC)
    version = _serving(session, policy)
    held_out: dict[str, float] = {}
    datasets: dict[str, tuple[int, int]] = {}
    changed: list[str] = []
    if version is not None:
        profile = monitoring.find_profile(session, version.model_name, version.version)
        if profile is not None:
            held_out = {
                k: float(v) for k, v in profile.metrics.items() if isinstance(v, int | float)
            }
        datasets, changed = _datasets(session, version)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with session.store.read() as conn:
        runs_today, cpu = conn.execute(
            select(func.count(), func.coalesce(func.sum(retrain_episodes.c.cpu_s), 0.0)).where(
                retrain_episodes.c.policy == policy.name,
                retrain_episodes.c.decision.in_(("retrain", "recalibrate")),
                retrain_episodes.c.created_at >= day,
            )
        ).one()
    return Evidence(
        now=now,
        serving=None if version is None else version.ref,
        held_out=held_out,
        runs=monitoring.list_runs(session, policy.endpoint, limit=policy.checks.persistence),
        alerts=monitoring.list_alerts(session, policy.endpoint),
        datasets=datasets,
        schema_changed=changed,
        runs_today=int(runs_today),
        cpu_today_s=float(cpu),
        switched_off=_switched_off(session, policy),
    )

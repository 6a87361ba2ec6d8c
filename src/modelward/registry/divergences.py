"""Divergences between modelward's registry record and MLflow's, and their repair.

modelward's record (which version is in which stage, reached through gates and approvals)
is the gated truth; MLflow's ``staging``/``production`` aliases mirror it for MLflow users.
Anyone who can write to the MLflow store can move an alias, set a legacy stage, delete a
version or rename a model with MLflow's own API, and so bypass the gates for whoever loads
``models:/churn@production``. modelward itself never serves from an alias (the gateway
resolves stages from modelward's record), but such a change must be noticed and undone.

:func:`check` compares both sides with two MLflow calls (every registered model with its
aliases, every version) and one read of modelward's tables. A divergence seen for the
first time is *noticed*: kept in ``registry_divergences`` with an audit entry in the same
transaction, and logged as a warning (the alert, until the monitoring context routes
alerts). One that disappeared is cleared, audited too. :func:`reconcile` puts MLflow back
in line where that is possible (aliases, legacy stages, a rename) and names what needs a
person (a deleted version cannot come back under its number).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import delete, insert, select

from modelward import security
from modelward.registry import tracking
from modelward.registry.tables import model_versions, registry_divergences
from modelward.security import Permission, Principal

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["Divergence", "ReconcileReport", "check", "reconcile"]

_log = logging.getLogger("modelward.registry")

Kind = Literal["alias", "mlflow_stage", "version_deleted", "model_renamed", "model_deleted"]
#: the MLflow aliases modelward owns, and the stage each mirrors
ALIASES = {"production": "Production", "staging": "Staging"}
#: kinds that reconcile repairs in MLflow; the others need a person
REPAIRABLE = frozenset({"alias", "mlflow_stage", "model_renamed"})


@dataclass(frozen=True)
class Divergence:
    """One way MLflow differs from modelward's record, named for people and for scripts."""

    model: str
    kind: Kind
    #: what modelward's record says (a version number, a name), None for "nothing"
    expected: str | None
    #: what MLflow has instead
    found: str | None
    #: the version concerned, or the alias / stage name
    subject: str
    message: str

    @property
    def key(self) -> str:
        return f"{self.model}|{self.kind}|{self.subject}|{self.expected}|{self.found}"

    @property
    def repairable(self) -> bool:
        return self.kind in REPAIRABLE

    @property
    def hint(self) -> str:
        """What to do about it."""
        if self.kind == "version_deleted":
            return (
                f"a deleted MLflow version cannot come back under number {self.expected}; "
                "restore the MLflow store from a backup, or archive it in modelward "
                f"(modelward promote {self.model}@{self.expected} --to Archived --reason ...)"
            )
        if self.kind == "model_deleted":
            return "restore the MLflow store from a backup; modelward keeps the versions' records"
        return "run `modelward models reconcile`"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "kind": self.kind,
            "subject": self.subject,
            "expected": self.expected,
            "found": self.found,
            "message": self.message,
            "repairable": self.repairable,
            "hint": self.hint,
        }


def _mlflow_state(session: Session) -> tuple[dict[str, dict[str, int]], dict[tuple[str, int], Any]]:
    """{model: {alias: version}} and {(model, version): MLflow version}, page by page."""
    client = tracking.client(session.workspace)
    models: dict[str, dict[str, int]] = {}
    token = None
    while True:
        page = client.search_registered_models(max_results=200, page_token=token)
        for rm in page:
            models[rm.name] = {k: int(v) for k, v in (rm.aliases or {}).items()}
        token = page.token
        if not token:
            break
    found: dict[tuple[str, int], Any] = {}
    token = None
    while True:
        vpage = client.search_model_versions(max_results=1000, page_token=token)
        for mv in vpage:
            found[(mv.name, int(mv.version))] = mv
        token = vpage.token
        if not token:
            break
    return models, found


def _compare(session: Session) -> list[Divergence]:
    with session.store.read() as conn:
        rows = conn.execute(
            select(
                model_versions.c.model_name,
                model_versions.c.version,
                model_versions.c.stage,
                model_versions.c.model_uri,
            ).order_by(model_versions.c.model_name, model_versions.c.version)
        ).all()
    if not rows:
        return []
    aliases, mlflow_versions = _mlflow_state(session)
    ours: dict[str, list[Any]] = {}
    for r in rows:
        ours.setdefault(r.model_name, []).append(r)
    out: list[Divergence] = []
    for name, versions in ours.items():
        if name not in aliases:
            out.append(_missing_model(name, versions, mlflow_versions))
            continue
        for r in versions:
            mv = mlflow_versions.get((name, r.version))
            if mv is None:
                out.append(
                    Divergence(
                        name,
                        "version_deleted",
                        str(r.version),
                        None,
                        str(r.version),
                        f"{name}@{r.version} ({r.stage} in modelward) was deleted in MLflow; "
                        "modelward keeps its record and its artifact URI",
                    )
                )
                continue
            legacy = str(mv.current_stage or "None")
            if legacy in ALIASES.values() and legacy != r.stage:
                out.append(
                    Divergence(
                        name,
                        "mlflow_stage",
                        r.stage,
                        legacy,
                        str(r.version),
                        f"{name}@{r.version} has MLflow stage {legacy!r} set outside modelward "
                        f"(modelward: {r.stage}); models:/{name}/{legacy} would load it",
                    )
                )
        for alias, stage in ALIASES.items():
            in_stage = [r.version for r in versions if r.stage == stage]
            want = max(in_stage) if in_stage else None
            have = aliases[name].get(alias)
            if want == have:
                continue
            if have is None:
                text = f"alias {alias!r} is missing; modelward's {stage} version is {want}"
            elif want is None:
                text = (
                    f"alias {alias!r} points at version {have}, but modelward has no {stage} "
                    "version (set outside modelward)"
                )
            else:
                text = (
                    f"alias {alias!r} points at version {have}, but modelward's {stage} "
                    f"version is {want} (moved outside modelward)"
                )
            out.append(
                Divergence(
                    name,
                    "alias",
                    None if want is None else str(want),
                    None if have is None else str(have),
                    alias,
                    f"{name}: {text}",
                )
            )
    return out


def _missing_model(
    name: str, versions: list[Any], mlflow_versions: dict[tuple[str, int], Any]
) -> Divergence:
    sources = {str(r.model_uri) for r in versions}
    holders = sorted(
        {mv.name for mv in mlflow_versions.values() if str(mv.source) in sources} - {name}
    )
    if holders:
        return Divergence(
            name,
            "model_renamed",
            name,
            holders[0],
            name,
            f"model {name!r} was renamed in MLflow to {holders[0]!r} outside modelward",
        )
    return Divergence(
        name,
        "model_deleted",
        name,
        None,
        name,
        f"model {name!r} ({len(versions)} version(s) in modelward) was deleted in MLflow",
    )


def check(session: Session, *, notice: bool = True) -> list[Divergence]:
    """Every divergence between modelward's record and MLflow now.

    With ``notice``, a divergence not seen before is recorded with an audit entry
    (``model.divergence.noticed``) and logged as a warning; one gone since is cleared
    (``model.divergence.cleared``).
    """
    found = _compare(session)
    if notice:
        _notice(session, found)
    return found


def _notice(session: Session, found: Iterable[Divergence]) -> None:
    current = {d.key: d for d in found}
    with session.store.read() as conn:
        known = {r.key for r in conn.execute(select(registry_divergences.c.key))}
    new = [d for k, d in current.items() if k not in known]
    gone = [k for k in known if k not in current]
    if not new and not gone:
        return
    now = datetime.now(UTC)
    with session.store.transaction() as conn:
        # read again under the write lock: another process may have noticed them first
        known = {r.key for r in conn.execute(select(registry_divergences.c.key))}
        for d in new:
            if d.key in known:
                continue
            conn.execute(
                insert(registry_divergences).values(
                    key=d.key, model_name=d.model, kind=d.kind, detail=d.to_dict(), noticed_at=now
                )
            )
            security.record(
                conn,
                actor="modelward",
                action="model.divergence.noticed",
                target=f"model:{d.model}",
                payload=d.to_dict(),
            )
            _log.warning("registry divergence: %s", d.message)
        for key in gone:
            if key not in known:
                continue
            conn.execute(delete(registry_divergences).where(registry_divergences.c.key == key))
            security.record(
                conn,
                actor="modelward",
                action="model.divergence.cleared",
                target=f"model:{key.split('|', 1)[0]}",
                payload={"key": key},
            )


@dataclass
class ReconcileReport:
    #: what was done in MLflow, one line per action
    actions: list[str] = field(default_factory=list)
    repaired: list[Divergence] = field(default_factory=list)
    #: divergences left, each needing a person
    remaining: list[Divergence] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.remaining

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "actions": self.actions,
            "repaired": [d.to_dict() for d in self.repaired],
            "remaining": [d.to_dict() for d in self.remaining],
        }


def reconcile(
    session: Session, principal: Principal, name: str | None = None, *, dry_run: bool = False
) -> ReconcileReport:
    """Put MLflow back in line with modelward's record (admins), audited per model.

    Aliases are pointed at the versions modelward has in those stages, legacy MLflow
    stages set outside modelward are cleared, a model renamed in MLflow gets its name
    back. ``dry_run`` only says what would be done.
    """
    from mlflow.exceptions import MlflowException

    from modelward.registry.lifecycle import mirror_aliases
    from modelward.registry.versions import validate_name

    principal.require(Permission.MODELS_OVERRIDE)
    if name is not None:
        validate_name(name)
    found = [d for d in check(session) if name is None or d.model == name]
    report = ReconcileReport()
    client = tracking.client(session.workspace)
    done: dict[str, list[str]] = {}
    for d in found:
        if not d.repairable:
            report.remaining.append(d)
            continue
        action = _action(d)
        if not dry_run:
            try:
                if d.kind == "model_renamed":
                    client.rename_registered_model(str(d.found), d.model)
                elif d.kind == "mlflow_stage":
                    with warnings.catch_warnings():
                        # MLflow deprecates stages; clearing one set behind our back is
                        # exactly what must still work
                        warnings.simplefilter("ignore", FutureWarning)
                        client.transition_model_version_stage(d.model, d.subject, "None")
                elif d.model not in done or "aliases" not in done[d.model]:
                    if not mirror_aliases(session, d.model):
                        raise MlflowException(f"could not set the aliases of {d.model}")
                    done.setdefault(d.model, []).append("aliases")
            except MlflowException as exc:
                report.remaining.append(d)
                _log.warning("reconcile %s: %s", d.message, exc)
                continue
        report.actions.append(action)
        report.repaired.append(d)
    if dry_run or not report.repaired:
        return report
    # a rename brings the model's aliases back too; look again before auditing
    after = {d.key for d in check(session)}
    by_model: dict[str, list[Divergence]] = {}
    for d in report.repaired:
        by_model.setdefault(d.model, []).append(d)
    with session.store.transaction() as conn:
        for model, repaired in by_model.items():
            security.record(
                conn,
                actor=principal.name,
                action="model.reconciled",
                target=f"model:{model}",
                payload={
                    "repaired": [d.to_dict() for d in repaired],
                    "actions": [_action(d) for d in repaired],
                    "still_diverging": sorted(k for k in after if k.startswith(f"{model}|")),
                },
            )
    return report


def _action(d: Divergence) -> str:
    if d.kind == "model_renamed":
        return f"renamed MLflow model {d.found!r} back to {d.model!r}"
    if d.kind == "mlflow_stage":
        return f"cleared MLflow stage {d.found!r} of {d.model}@{d.subject}"
    target = "removed" if d.expected is None else f"set to version {d.expected}"
    return f"{d.model}: alias {d.subject!r} {target}"

"""Registered feature definitions: plan, apply, show, and which models use which versions.

``plan`` compares the definitions in code with the latest registered version of each
view; ``apply`` registers every new or changed one as a new version (its definition
hash), with its owner and sources, and writes an audit entry for each in the same
transaction. A feature whose type changes between versions is refused: models trained on
the old type would be served the new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from modelward.errors import Conflict, InputError, NotFound
from modelward.features.catalog import Catalog
from modelward.features.definitions import FeatureView, View
from modelward.features.tables import feature_runs, feature_uses, feature_views
from modelward.security import record as audit

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "Change",
    "Plan",
    "apply",
    "note_model_version",
    "plan",
    "show",
]

Action = Literal["create", "update", "unchanged", "refused"]


@dataclass(frozen=True)
class Change:
    view: str
    action: Action
    definition_hash: str
    previous_hash: str | None = None
    #: human-readable differences, e.g. "feature trips: int64 -> string"
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "action": self.action,
            "definition_hash": self.definition_hash,
            "previous_hash": self.previous_hash,
            "details": list(self.details),
        }


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    #: registered views that the definitions no longer have (kept, never deleted)
    absent: tuple[str, ...] = field(default=())

    @property
    def refused(self) -> list[Change]:
        return [c for c in self.changes if c.action == "refused"]

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action in ("create", "update")]

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "absent": list(self.absent)}


def _latest(conn: Connection) -> dict[str, Any]:
    newest = (
        select(feature_views.c.name, func.max(feature_views.c.version).label("v"))
        .group_by(feature_views.c.name)
        .subquery()
    )
    rows = conn.execute(
        select(feature_views).join(
            newest,
            (feature_views.c.name == newest.c.name) & (feature_views.c.version == newest.c.v),
        )
    ).all()
    return {r.name: r for r in rows}


def _features(definition: Mapping[str, Any]) -> dict[str, str]:
    return {f["name"]: f["dtype"] for f in definition.get("features", [])}


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(differences, type changes) between two definitions."""
    details: list[str] = []
    type_changes: list[str] = []
    old_f, new_f = _features(old), _features(new)
    for name in new_f:
        if name not in old_f:
            details.append(f"feature {name} added ({new_f[name]})")
        elif old_f[name] != new_f[name]:
            type_changes.append(f"feature {name}: {old_f[name]} -> {new_f[name]}")
    details.extend(f"feature {name} removed" for name in old_f if name not in new_f)
    for key in sorted(set(old) | set(new)):
        if key != "features" and old.get(key) != new.get(key):
            details.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return details, type_changes


def plan(session: Session, catalog: Catalog) -> Plan:
    """What ``apply`` would register, without changing anything."""
    with session.store.read() as conn:
        return _plan(conn, catalog.views.values())


def _plan(conn: Connection, views: Iterable[View]) -> Plan:
    latest = _latest(conn)
    changes: list[Change] = []
    seen: set[str] = set()
    for view in sorted(views, key=lambda v: v.name):
        seen.add(view.name)
        new_hash = view.definition_hash
        row = latest.get(view.name)
        if row is None:
            changes.append(
                Change(
                    view.name,
                    "create",
                    new_hash,
                    details=tuple(f"feature {f.name} ({f.dtype})" for f in view.features),
                )
            )
            continue
        if row.definition_hash == new_hash:
            changes.append(Change(view.name, "unchanged", new_hash, row.definition_hash))
            continue
        details, type_changes = _diff(row.definition, view.to_dict())
        if type_changes:
            changes.append(
                Change(view.name, "refused", new_hash, row.definition_hash, tuple(type_changes))
            )
        else:
            changes.append(
                Change(view.name, "update", new_hash, row.definition_hash, tuple(details))
            )
    return Plan(tuple(changes), tuple(sorted(set(latest) - seen)))


def _sources(view: View) -> list[str]:
    if isinstance(view, FeatureView):
        desc = view.source_descriptor
        return [f"{desc['kind']}:{desc.get('path') or desc.get('ref') or desc.get('sql')}"]
    return [f"feature_view:{v.name}@{v.definition_hash}" for v in view.inputs]


def apply(session: Session, catalog: Catalog) -> Plan:
    """Register new and changed definitions; refuse everything if any type changes."""
    try:
        with session.store.transaction() as conn:
            result = _plan(conn, catalog.views.values())
            if result.refused:
                raise InputError(
                    "features apply refused, nothing registered: "
                    + "; ".join(
                        f"view {c.view!r} {d} (a type change breaks models trained "
                        "on the earlier version: add a feature with a new name)"
                        for c in result.refused
                        for d in c.details
                    ),
                    views=[c.view for c in result.refused],
                )
            now = datetime.now(UTC)
            for change in result.pending:
                view = catalog.views[change.view]
                version = (
                    conn.execute(
                        select(func.max(feature_views.c.version)).where(
                            feature_views.c.name == view.name
                        )
                    ).scalar_one_or_none()
                    or 0
                ) + 1
                conn.execute(
                    insert(feature_views).values(
                        name=view.name,
                        version=version,
                        definition_hash=view.definition_hash,
                        kind=view.kind,
                        owner=view.owner,
                        definition=view.to_dict(),
                        sources=_sources(view),
                        created_by=session.actor,
                        created_at=now,
                    )
                )
                audit(
                    conn,
                    actor=session.actor,
                    action="features.apply",
                    target=f"feature_view:{view.name}",
                    payload={
                        "version": version,
                        "definition_hash": view.definition_hash,
                        "previous_hash": change.previous_hash,
                        "owner": view.owner,
                        "changes": list(change.details),
                    },
                )
    except IntegrityError:
        raise Conflict(
            "another apply registered the same views at the same time; run plan again"
        ) from None
    return result


def note_model_version(
    conn: Connection, *, model: str, version: str, feature_views: Sequence[Mapping[str, Any]]
) -> None:
    """Record that a model version was trained on these view versions.

    For the registry to call inside its registration transaction, with the
    ``feature_views`` of a lineage record (``name`` and ``definition_hash`` each).
    """
    now = datetime.now(UTC)
    for use in feature_views:
        exists = conn.execute(
            select(feature_uses.c.id).where(
                feature_uses.c.view == use["name"],
                feature_uses.c.definition_hash == use["definition_hash"],
                feature_uses.c.model == model,
                feature_uses.c.model_version == str(version),
            )
        ).first()
        if exists is None:
            conn.execute(
                insert(feature_uses).values(
                    view=use["name"],
                    definition_hash=use["definition_hash"],
                    model=model,
                    model_version=str(version),
                    recorded_at=now,
                )
            )


def show(session: Session, name: str) -> dict[str, Any]:
    """Owner, sources, definition history, recent runs and the models trained on a view."""
    with session.store.read() as conn:
        versions = conn.execute(
            select(feature_views)
            .where(feature_views.c.name == name)
            .order_by(feature_views.c.version)
        ).all()
        if not versions:
            raise NotFound(
                f"feature view {name!r} is not registered; run features apply", view=name
            )
        uses = conn.execute(
            select(feature_uses)
            .where(feature_uses.c.view == name)
            .order_by(feature_uses.c.recorded_at)
        ).all()
        runs = conn.execute(
            select(feature_runs)
            .where(feature_runs.c.view == name)
            .order_by(feature_runs.c.started_at.desc())
            .limit(5)
        ).all()
    latest = versions[-1]
    by_hash = {v.definition_hash: v.version for v in versions}
    return {
        "name": name,
        "kind": latest.kind,
        "owner": latest.owner,
        "description": latest.definition.get("description", ""),
        "sources": latest.sources,
        "features": latest.definition.get("features", []),
        "ttl_s": latest.definition.get("ttl_s"),
        "versions": [
            {
                "version": v.version,
                "definition_hash": v.definition_hash,
                "owner": v.owner,
                "created_by": v.created_by,
                "created_at": v.created_at,
            }
            for v in versions
        ],
        "models": [
            {
                "model": u.model,
                "model_version": u.model_version,
                "definition_hash": u.definition_hash,
                "view_version": by_hash.get(u.definition_hash),
                "recorded_at": u.recorded_at,
            }
            for u in uses
        ],
        "runs": [
            {
                "id": r.id,
                "mode": r.mode,
                "status": r.status,
                "rows": r.rows,
                "start": r.start,
                "end": r.end,
                "duration_s": r.duration_s,
                "online_store": r.online_store,
                "finished_at": r.finished_at,
                # where the run read its rows (a snapshot's name@version, a file, SQL) and
                # that source's content hash: what a data incident names as upstream
                "source": (r.report or {}).get("source"),
                "source_hash": (r.report or {}).get("source_hash"),
            }
            for r in runs
        ],
    }


def list_views(session: Session) -> list[dict[str, Any]]:
    """Every registered view's latest version: name, kind, owner, version, hash, when."""
    latest = (
        select(feature_views.c.name, func.max(feature_views.c.version).label("version"))
        .group_by(feature_views.c.name)
        .subquery()
    )
    query = (
        select(feature_views)
        .join(
            latest,
            (feature_views.c.name == latest.c.name) & (feature_views.c.version == latest.c.version),
        )
        .order_by(feature_views.c.name)
    )
    with session.store.read() as conn:
        return [
            {
                "name": r.name,
                "kind": r.kind,
                "owner": r.owner,
                "version": r.version,
                "definition_hash": r.definition_hash,
                "created_by": r.created_by,
                "created_at": r.created_at,
            }
            for r in conn.execute(query)
        ]

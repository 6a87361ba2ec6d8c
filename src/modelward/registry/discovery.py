"""Discovery: MLflow is the registry's source of truth, and lookups that miss ask it.

A version registered by plain MLflow code (``mlflow.register_model``, the seed's snippet,
``modelward run -- python train.py``) is *discovered* the first time anything looks for it:
:func:`get_version` that misses asks MLflow once for that model's versions (one filtered
search) and records what it finds, each with its audit entry and the lineage its run tags
allow; ``models list`` asks for all (:func:`sync`). A hit costs one indexed read and no
MLflow call. Stages are never read from MLflow: only a transition through modelward sets
one (see :mod:`~modelward.registry.divergences` for what happens when MLflow is changed
behind modelward's back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from modelward.errors import NotFound
from modelward.registry import tracking
from modelward.registry.tables import model_versions, registered_models
from modelward.registry.versions import (
    _NAME,
    ModelVersion,
    _from_row,
    _get,
    _insert_version,
    _lineage_from_mlflow,
    _note_signature,
    _record_of,
    _tag_completeness,
    parse_ref,
    validate_name,
)

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion as MlflowVersion

    from modelward.session import Session

__all__ = ["discover_model", "get_version", "list_versions", "require_model", "sync"]


def _mlflow_versions(session: Session, name: str | None = None) -> list[MlflowVersion]:
    """Every version MLflow's registry holds (of ``name`` only, when given), page by page."""
    c = tracking.client(session.workspace)
    # names reaching here passed validate_name: no quote can break the filter
    where = f"name = '{name}'" if name is not None else None
    found: list[MlflowVersion] = []
    token = None
    while True:
        page = c.search_model_versions(filter_string=where, max_results=200, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _record_discovered(session: Session, found: list[MlflowVersion]) -> list[ModelVersion]:
    """Record MLflow versions modelward has not seen, each with its audit entry."""
    with session.store.read() as conn:
        known = {
            (r.model_name, r.version)
            for r in conn.execute(select(model_versions.c.model_name, model_versions.c.version))
        }
    new = [
        mv
        for mv in sorted(found, key=lambda m: (m.name, int(m.version)))
        # a name modelward refuses stays visible in MLflow only
        if (mv.name, int(mv.version)) not in known and _NAME.match(mv.name)
    ]
    renamed = _renamed_sources(session, new) if new else set()
    discovered = []
    for mv in new:
        if (mv.name, str(mv.source)) in renamed:
            # a model renamed in MLflow behind modelward's back is no new model but a
            # divergence, which `models reconcile` repairs (registry.divergences)
            continue
        record = _record_of(session, mv.run_id) if mv.run_id else None
        lineage = (
            record if record is not None else _lineage_from_mlflow(session, mv.run_id, mv.source)
        )
        lineage["model_artifact"] = {**(lineage.get("model_artifact") or {}), "uri": mv.source}
        _note_signature(session, lineage, str(mv.source))
        actor = mv.user_id or lineage.get("author") or "mlflow"
        with session.store.transaction() as conn:
            exists = conn.execute(
                select(model_versions.c.version).where(
                    model_versions.c.model_name == mv.name,
                    model_versions.c.version == int(mv.version),
                )
            ).first()
            if exists is not None:
                continue  # another process discovered it first
            version = _insert_version(
                conn,
                name=mv.name,
                version=int(mv.version),
                source="mlflow",
                run_id=mv.run_id,
                model_uri=str(mv.source),
                lineage=lineage,
                actor=str(actor),
                action="model.version.discovered",
            )
        discovered.append(version)
        _tag_completeness(session, version)
    return discovered


def _renamed_sources(session: Session, new: list[MlflowVersion]) -> set[tuple[str, str]]:
    """(MLflow name, artifact URI) of new-looking versions that are modelward versions of a
    model MLflow no longer has: the signature of a rename done in MLflow."""
    from mlflow.exceptions import MlflowException

    with session.store.read() as conn:
        rows = conn.execute(
            select(model_versions.c.model_name, model_versions.c.model_uri).where(
                model_versions.c.model_uri.in_({str(mv.source) for mv in new})
            )
        ).all()
    owners: dict[str, set[str]] = {}
    for r in rows:
        owners.setdefault(str(r.model_uri), set()).add(r.model_name)
    client = tracking.client(session.workspace)
    gone: dict[str, bool] = {}

    def missing(name: str) -> bool:
        if name not in gone:
            try:
                client.get_registered_model(name)
                gone[name] = False
            except MlflowException:
                gone[name] = True
        return gone[name]

    return {
        (mv.name, str(mv.source))
        for mv in new
        if any(o != mv.name and missing(o) for o in owners.get(str(mv.source), ()))
    }


def sync(session: Session) -> list[ModelVersion]:
    """Record versions registered by plain MLflow code that modelward has not seen yet."""
    return _record_discovered(session, _mlflow_versions(session))


def discover_model(session: Session, name: str) -> list[ModelVersion]:
    """:func:`sync` for one model: one filtered MLflow search, for a lookup that missed."""
    return _record_discovered(session, _mlflow_versions(session, validate_name(name)))


def list_versions(
    session: Session,
    name: str | None = None,
    *,
    discover: bool = True,
    newest: int | None = None,
    skip: int = 0,
) -> list[ModelVersion]:
    """Versions in name and number order; with ``discover``, MLflow is asked first.

    ``newest`` keeps that many, newest first, after skipping the ``skip`` newest (a page
    of a long history, read without loading the rest).
    """
    if discover:
        if name is None:
            sync(session)
        else:
            discover_model(session, name)
    query = select(model_versions).order_by(model_versions.c.model_name, model_versions.c.version)
    if newest is not None:
        query = (
            select(model_versions)
            .order_by(model_versions.c.version.desc(), model_versions.c.model_name)
            .limit(newest)
            .offset(max(0, skip))
        )
    if name is not None:
        query = query.where(model_versions.c.model_name == validate_name(name))
    with session.store.read() as conn:
        return [_from_row(r) for r in conn.execute(query)]


def get_version(
    session: Session, ref: str | tuple[str, int | str], *, discover: bool = True
) -> ModelVersion:
    """The version ``ref`` names (``churn@3``, ``churn@production``).

    MLflow is the source of truth: a lookup that misses asks MLflow once for the model's
    versions (one filtered search) and records what plain MLflow code registered, so a
    version is usable by ``promote``, lineage, the REST API and the gateway the moment it
    exists, with no sync step. A hit costs one indexed read and no MLflow call. Stages
    are never read from MLflow: only a transition through modelward sets one.
    """
    name, which = parse_ref(ref) if isinstance(ref, str) else ref
    try:
        with session.store.read() as conn:
            return _get(conn, name, which)
    except NotFound:
        if not discover:
            raise
        with session.store.read() as conn:
            # a discovered version is in no stage: only an unknown model can change that
            # answer for a stage reference
            if isinstance(which, str) and _model_exists(conn, name):
                raise
        if not discover_model(session, name):
            raise
    with session.store.read() as conn:
        return _get(conn, name, which)


def require_model(session: Session, name: str) -> None:
    """Raise :class:`NotFound` unless ``name`` is registered (discovering it from MLflow)."""
    validate_name(name)
    with session.store.read() as conn:
        if _model_exists(conn, name):
            return
    discover_model(session, name)
    with session.store.read() as conn:
        if not _model_exists(conn, name):
            raise NotFound(f"model {name!r} is not registered", model=name)


def _model_exists(conn: Connection, name: str) -> bool:
    found = conn.execute(
        select(registered_models.c.name).where(registered_models.c.name == name)
    ).first()
    return found is not None

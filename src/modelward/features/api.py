"""The features context's public functions over a session (the workspace's definitions,
metadata store and configured online store). Other contexts and the CLI import these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelward.errors import InputError
from modelward.features import versions
from modelward.features.catalog import Catalog, FeatureRef, load_catalog
from modelward.features.definitions import FeatureView, View
from modelward.features.health import compute_stats, history, record_stats
from modelward.features.lookup import FeatureLookup, OnlineResult
from modelward.features.materialization import MaterializationRun, Progress, materialize_view
from modelward.features.online import OnlineStore, open_online_store
from modelward.features.skew import SkewReport, skew_check
from modelward.features.sources import (
    check_source,
    latest_relation,
    resolve_view_source,
    source_columns,
)
from modelward.session import resolve_session

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "apply",
    "check_skew",
    "compute_view_stats",
    "get_online_features",
    "list_views",
    "materialize",
    "online_store",
    "plan",
    "show",
    "stats_history",
]


def _catalog(session: Session, catalog: Catalog | None) -> Catalog:
    return catalog if catalog is not None else load_catalog(session)


def online_store(session: Session | None = None) -> OnlineStore:
    """The online store ``[features.online]`` configures (the caller closes it)."""
    session = resolve_session(session)
    return open_online_store(session.workspace.settings.features.online, session.workspace.root)


def _batch_view(catalog: Catalog, name: str | View) -> FeatureView:
    view = catalog.view(name) if isinstance(name, str) else name
    if not isinstance(view, FeatureView):
        raise InputError(
            f"{view.name!r} is an on-demand view; it has no stored values", view=view.name
        )
    return view


def materialize(
    views: Sequence[str | FeatureView] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    session: Session | None = None,
    catalog: Catalog | None = None,
    store: OnlineStore | None = None,
    progress: Progress | None = None,
) -> list[MaterializationRun]:
    """Incremental materialization (no ``start``) or a backfill of ``[start, end)``.

    ``views`` defaults to every batch view with ``online=True`` in the definitions.
    """
    session = resolve_session(session)
    catalog = _catalog(session, catalog)
    targets = (
        [_batch_view(catalog, v) for v in views]
        if views
        else [v for v in catalog.views.values() if isinstance(v, FeatureView) and v.online]
    )
    own = store is None
    store = store or online_store(session)
    try:
        return [
            materialize_view(
                session,
                v,
                store,
                start=start,
                end=end,
                mode="backfill" if start is not None else "incremental",
                progress=progress,
            )
            for v in targets
        ]
    finally:
        if own:
            store.close()


def get_online_features(
    entities: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    features: Sequence[FeatureRef],
    *,
    request: Mapping[str, Sequence[Any]] | None = None,
    session: Session | None = None,
    catalog: Catalog | None = None,
) -> OnlineResult:
    """One-off online read; a server keeps a :class:`FeatureLookup` instead."""
    session = resolve_session(session)
    store = online_store(session)
    try:
        lookup = FeatureLookup(store, _catalog(session, catalog))
        return lookup.get(entities, features, request=request)
    finally:
        store.close()


def plan(session: Session | None = None, catalog: Catalog | None = None) -> versions.Plan:
    session = resolve_session(session)
    return versions.plan(session, _catalog(session, catalog))


def apply(session: Session | None = None, catalog: Catalog | None = None) -> versions.Plan:
    session = resolve_session(session)
    return versions.apply(session, _catalog(session, catalog))


def show(name: str, session: Session | None = None) -> dict[str, Any]:
    return versions.show(resolve_session(session), name)


def list_views(session: Session | None = None) -> list[dict[str, Any]]:
    """Every registered feature view's latest version (name, kind, owner, version, hash)."""
    return versions.list_views(resolve_session(session))


def stats_history(
    name: str,
    session: Session | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    return history(resolve_session(session), name, limit)


def compute_view_stats(
    name: str, session: Session | None = None, catalog: Catalog | None = None
) -> dict[str, Any]:
    """Statistics of the latest value per entity in the source now, recorded as history."""
    from modelward.data import connect

    session = resolve_session(session)
    view = _batch_view(_catalog(session, catalog), name)
    con = connect(session.workspace.settings.data)
    try:
        source = resolve_view_source(view, session)
        check_source(view, source_columns(con, source, view.name), source)
        now = datetime.now(UTC)
        stats = compute_stats(con, f"({latest_relation(view, source, None, None)})", view, now)
    finally:
        con.close()
    with session.store.transaction() as conn:
        record_stats(conn, view, stats, None, note="on demand")
    return stats


def check_skew(
    name: str,
    *,
    sample: int = 100,
    threshold: float | None = None,
    session: Session | None = None,
    catalog: Catalog | None = None,
    store: OnlineStore | None = None,
) -> SkewReport:
    """Skew report for a view; ``report.raise_for_failure()`` makes it a gate."""
    session = resolve_session(session)
    view = _batch_view(_catalog(session, catalog), name)
    limit = session.workspace.settings.features.skew_threshold if threshold is None else threshold
    own = store is None
    store = store or online_store(session)
    try:
        return skew_check(view, store, sample=sample, threshold=limit, session=session)
    finally:
        if own:
            store.close()

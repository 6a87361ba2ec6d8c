"""Online feature lookup: latest values per entity, TTL applied, on-demand features computed.

A value older than its view's TTL at read time comes back as missing (``None``), never as
a stale number; each view's event times come back too, so callers know freshness.
On-demand features are computed by the same function the offline join calls.

Example::

    lookup = FeatureLookup(store, catalog)
    result = lookup.get({"driver_id": [1, 2]}, ["driver_stats:trips", "trips_per_km"],
                        request={"km": [2.0, 3.5]})
    result.columns["trips"]  # [21, 0]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from modelward.errors import InputError
from modelward.features.catalog import Catalog, FeatureRef, Selection
from modelward.features.definitions import ARROW_TYPES, DType, FeatureView, OnDemandView
from modelward.features.online.base import OnlineStore
from modelward.features.packing import entity_key, from_us, to_us, unpack_many
from modelward.features.transforms import apply_on_demand

__all__ = ["FeatureLookup", "OnlineResult"]


@dataclass(frozen=True)
class OnlineResult:
    #: entity keys and request fields as given, then the features asked for
    columns: dict[str, list[Any]]
    #: per batch view read, the event time of each row's values in microseconds since the
    #: epoch (None: missing or expired); :attr:`event_timestamps` has them as datetimes
    event_us: dict[str, list[int | None]]
    #: per batch view read, the event time of a stored value that was refused as older
    #: than the view's TTL (None: the value was fresh, or there is none), so a caller can
    #: tell "not found" from "outside its max age" (the feature server's statuses)
    expired_us: dict[str, list[int | None]] = dataclasses.field(default_factory=dict)

    @property
    def event_timestamps(self) -> dict[str, list[datetime | None]]:
        # converted on request: most callers never look, and it costs per row
        return {
            view: [from_us(us) if us is not None else None for us in stamps]
            for view, stamps in self.event_us.items()
        }

    def to_arrow(self) -> pa.Table:
        return pa.table({k: pa.array(v) for k, v in self.columns.items()})

    def to_rows(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [
            dict(zip(names, vals, strict=True)) for vals in zip(*self.columns.values(), strict=True)
        ]


def _columns(
    rows: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
) -> dict[str, list[Any]]:
    if isinstance(rows, Mapping):
        cols = {k: list(v) for k, v in rows.items()}
    else:
        names: list[str] = []
        for row in rows:
            names.extend(k for k in row if k not in names)
        cols = {n: [row.get(n) for row in rows] for n in names}
    lengths = {len(v) for v in cols.values()}
    if len(lengths) > 1:
        raise InputError(
            f"entity columns have different lengths: "
            f"{', '.join(f'{k}={len(v)}' for k, v in cols.items())}"
        )
    return cols


@dataclass(frozen=True)
class _Plan:
    """What a feature list needs, worked out once per distinct list (the hot path reuses it)."""

    selections: list[Selection]
    views: list[FeatureView]
    #: per view: namespace, dtypes, TTL in microseconds
    layout: dict[str, tuple[str, list[DType], int | None]]


class FeatureLookup:
    """Reads features for entities from an online store. Reuse one per process."""

    def __init__(self, store: OnlineStore, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog
        self._plans: dict[tuple[FeatureRef, ...], _Plan] = {}

    def _plan(self, features: Sequence[FeatureRef]) -> _Plan:
        key = tuple(features)
        plan = self._plans.get(key)
        if plan is None:
            selections = self.catalog.select(list(features))
            views: dict[str, FeatureView] = {}
            for sel in selections:
                deps = [sel.view] if isinstance(sel.view, FeatureView) else list(sel.view.inputs)
                for dep in deps:
                    views.setdefault(dep.name, dep)
            layout = {
                v.name: (
                    v.online_namespace,
                    [f.dtype for f in v.features],
                    int(v.ttl.total_seconds() * 1_000_000) if v.ttl else None,
                )
                for v in views.values()
            }
            plan = _Plan(selections, list(views.values()), layout)
            if len(self._plans) < 1_024:  # bounded: feature lists come from code, not users
                self._plans[key] = plan
        return plan

    def read_view(
        self,
        view: FeatureView,
        keys: Sequence[str],
        now: datetime,
        layout: tuple[str, list[DType], int | None] | None = None,
    ) -> tuple[list[list[Any]], list[int | None]]:
        """Per feature, its values for ``keys`` (None where missing or older than the TTL),
        and each key's event time in microseconds."""
        columns, stamps, _ = self._read_view(view, keys, now, layout)
        return columns, stamps

    def _read_view(
        self,
        view: FeatureView,
        keys: Sequence[str],
        now: datetime,
        layout: tuple[str, list[DType], int | None] | None = None,
    ) -> tuple[list[list[Any]], list[int | None], list[int | None]]:
        """:meth:`read_view`, plus the event time of each value refused for its age."""
        namespace, dtypes, ttl_us = layout or (
            view.online_namespace,
            [f.dtype for f in view.features],
            int(view.ttl.total_seconds() * 1_000_000) if view.ttl else None,
        )
        limit = to_us(now) - ttl_us if ttl_us is not None else None
        stored = self.store.read(namespace, keys)
        live = [
            rec if rec is not None and (limit is None or rec.event_us >= limit) else None
            for rec in stored
        ]
        expired: list[int | None] = (
            [
                rec.event_us if rec is not None and fresh is None else None
                for rec, fresh in zip(stored, live, strict=True)
            ]
            if limit is not None
            else [None] * len(stored)
        )
        blobs = [rec.value for rec in live if rec is not None]
        # one JSON parse for the whole batch instead of one per entity
        decoded = iter(unpack_many(blobs, dtypes)) if blobs else iter(())
        empty = [None] * len(dtypes)
        rows = [next(decoded) if rec is not None else empty for rec in live]
        columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in dtypes]
        return columns, [rec.event_us if rec is not None else None for rec in live], expired

    def get(
        self,
        entities: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
        features: Sequence[FeatureRef],
        *,
        request: Mapping[str, Sequence[Any]] | None = None,
        at: datetime | None = None,
    ) -> OnlineResult:
        """Features for each entity row; ``request`` holds on-demand request fields."""
        now = at or datetime.now(UTC)
        cols = _columns(entities)
        n = len(next(iter(cols.values()))) if cols else 0
        if request:
            extra = _columns(request)
            if extra and len(next(iter(extra.values()))) != n:
                raise InputError(
                    f"request fields have different lengths from the {n} entity rows: "
                    f"{', '.join(f'{k}={len(v)}' for k, v in extra.items())}"
                )
            cols.update(extra)
        plan = self._plan(features)
        read: dict[str, dict[str, list[Any]]] = {}
        stamps: dict[str, list[int | None]] = {}
        expired: dict[str, list[int | None]] = {}
        for view in plan.views:
            join_keys = view.join_keys
            missing = [k for k in join_keys if k not in cols]
            if missing:
                raise InputError(
                    f"feature view {view.name!r} needs entity key(s) {', '.join(missing)}",
                    view=view.name,
                    column=missing[0],
                )
            if len(join_keys) == 1:
                keys = [str(v) for v in cols[join_keys[0]]]
            else:
                keys = [
                    entity_key(vals) for vals in zip(*(cols[k] for k in join_keys), strict=True)
                ]
            columns, stamps[view.name], expired[view.name] = self._read_view(
                view, keys, now, plan.layout[view.name]
            )
            read[view.name] = dict(zip(view.feature_names, columns, strict=True))
        out: dict[str, list[Any]] = dict(cols)
        for sel in plan.selections:
            if isinstance(sel.view, FeatureView):
                for name in sel.names:
                    out[name] = read[sel.view.name][name]
            else:
                computed = self._on_demand(sel.view, cols, read)
                for name in sel.names:
                    out[name] = computed[name]
        return OnlineResult(out, stamps, expired)

    def _on_demand(
        self,
        view: OnDemandView,
        cols: dict[str, list[Any]],
        read: dict[str, dict[str, list[Any]]],
    ) -> dict[str, list[Any]]:
        table: dict[str, pa.Array] = {}
        for key in view.join_keys:
            if key in cols:
                table[key] = pa.array(cols[key])
        for dep in view.inputs:
            for feat in dep.features:
                table[feat.name] = pa.array(read[dep.name][feat.name], ARROW_TYPES[feat.dtype])
        for field in view.request:
            if field.name not in cols:
                raise InputError(
                    f"on-demand view {view.name!r} needs request field {field.name!r}",
                    view=view.name,
                    column=field.name,
                )
            table[field.name] = pa.array(cols[field.name], ARROW_TYPES[field.dtype])
        values = apply_on_demand(view, pa.table(table), keys=view.join_keys)
        return {name: arr.to_pylist() for name, arr in values.items()}

"""Online feature values with a status per value: what the feature server and the CLI show.

The statuses are Feast's, so a Feast user reads them without a glossary:

``PRESENT``          a fresh value (within its view's TTL)
``NULL_VALUE``       a fresh row whose value is null
``NOT_FOUND``        the online store holds no row for the entity
``OUTSIDE_MAX_AGE``  a row exists but is older than the view's TTL: the value is withheld
                     (null), as the gateway withholds it from a model; its event time is shown
``REDACTED``         the feature is marked PII and the caller may not read PII (value null)

The values come from the same :class:`~modelward.features.lookup.FeatureLookup` the
gateway scores with, so TTL, on-demand transforms and entity-key rules are the same.

Example::

    vectors = read_vectors(lookup, {"driver_id": [1, 9]}, ["driver_stats:trips"])
    vectors.to_feast()["results"][1]["statuses"]  # ["PRESENT", "NOT_FOUND"]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from modelward.errors import InputError
from modelward.features.catalog import FeatureRef
from modelward.features.definitions import FeatureView
from modelward.features.lookup import FeatureLookup, OnlineResult
from modelward.features.packing import from_us

__all__ = ["STATUSES", "FeatureColumn", "FeatureVectors", "Status", "read_vectors"]

Status = Literal["PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE", "REDACTED"]
STATUSES: tuple[Status, ...] = (
    "PRESENT",
    "NULL_VALUE",
    "NOT_FOUND",
    "OUTSIDE_MAX_AGE",
    "REDACTED",
)
#: the event time Feast gives entity-key columns (they are inputs, not stored values)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeatureColumn:
    """One entity key or feature over all requested rows."""

    name: str
    values: list[Any]
    statuses: list[Status]
    event_timestamps: list[datetime | None]


@dataclass(frozen=True)
class FeatureVectors:
    """Entity keys first, then the features in the order asked for."""

    columns: list[FeatureColumn]
    #: features whose values were withheld because they are PII
    redacted: list[str]

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_feast(self) -> dict[str, Any]:
        """Feast's ``/get-online-features`` answer: one result per column."""
        # the features of one view share one list of event times: format it once
        formatted: dict[int, list[str | None]] = {}
        results = []
        for c in self.columns:
            stamps = formatted.get(id(c.event_timestamps))
            if stamps is None:
                stamps = formatted[id(c.event_timestamps)] = [_stamp(t) for t in c.event_timestamps]
            values = c.values
            if any(isinstance(v, datetime) for v in values):
                values = [_json_value(v) for v in values]
            results.append({"values": values, "statuses": c.statuses, "event_timestamps": stamps})
        return {"metadata": {"feature_names": self.feature_names}, "results": results}

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per entity row: ``{name: value}`` (the CLI's table)."""
        n = len(self.columns[0].values) if self.columns else 0
        return [{c.name: c.values[i] for c in self.columns} for i in range(n)]


def _stamp(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_value(value: Any) -> Any:
    return _stamp(value) if isinstance(value, datetime) else value


def read_vectors(
    lookup: FeatureLookup,
    entities: Mapping[str, Sequence[Any]],
    features: Sequence[FeatureRef],
    *,
    full_feature_names: bool = False,
    may_read_pii: bool = False,
    at: datetime | None = None,
) -> FeatureVectors:
    """Features for the entity rows in ``entities`` (join keys, plus the request fields an
    on-demand view needs), each value with its status and event time.

    ``full_feature_names`` names features ``view__feature`` (Feast's spelling); without it
    two views' features of one name are refused, since the answer could not tell them apart.
    """
    selections = lookup.catalog.select(list(features))
    keys: list[str] = []
    request_fields: set[str] = set()
    for sel in selections:
        deps = [sel.view] if isinstance(sel.view, FeatureView) else list(sel.view.inputs)
        for dep in deps:
            keys.extend(k for k in dep.join_keys if k not in keys)
        if not isinstance(sel.view, FeatureView):
            request_fields.update(f.name for f in sel.view.request)
    for name in entities:
        if name not in keys and name not in request_fields:
            raise InputError(
                f"entities.{name}: is neither a join key ({', '.join(keys)}) nor a request "
                "field of the features asked for",
                field=f"entities.{name}",
            )
    result = lookup.get(
        {k: entities[k] for k in keys if k in entities},
        features,
        request={k: v for k, v in entities.items() if k in request_fields} or None,
        at=at,
    )
    n = len(next(iter(entities.values()))) if entities else 0
    columns = [
        FeatureColumn(k, list(entities[k]), ["PRESENT"] * n, [_EPOCH] * n)
        for k in keys
        if k in entities
    ]
    redacted: list[str] = []
    seen: dict[str, str] = {}
    for sel in selections:
        # one pass per view, shared by its features (their stamps are the same list)
        states, stamps = _states(sel.view, result, n)
        for name in sel.names:
            shown = f"{sel.view.name}__{name}" if full_feature_names else name
            if shown in seen:
                raise InputError(
                    f"features: {name!r} is a feature of both {seen[shown]!r} and "
                    f"{sel.view.name!r}; ask with full_feature_names to tell them apart",
                    field="features",
                )
            seen[shown] = sel.view.name
            values = list(result.columns[name])
            statuses = _statuses(states, values)
            if sel.view.feature(name).pii and not may_read_pii:
                values = [None] * n
                statuses = ["REDACTED"] * n
                redacted.append(shown)
            columns.append(FeatureColumn(shown, values, statuses, stamps))
    return FeatureVectors(columns, redacted)


#: an entity row's state in a view: a fresh row, a row older than the TTL, or none
_FRESH, _STALE, _MISSING = 0, 1, 2


def _states(view: Any, result: OnlineResult, n: int) -> tuple[list[int], list[datetime | None]]:
    """Per row, its state in ``view`` and its event time; an on-demand view takes the worst
    state of its inputs and their newest event time."""
    deps = [view] if isinstance(view, FeatureView) else list(view.inputs)
    none: list[int | None] = [None] * n
    fresh = [result.event_us[d.name] for d in deps]
    stale = [result.expired_us.get(d.name, none) for d in deps]
    states: list[int] = []
    stamps: list[datetime | None] = []
    for i in range(n):
        seen = [f[i] for f in fresh]
        if all(us is not None for us in seen):
            states.append(_FRESH)
        else:
            seen = [f if f is not None else s[i] for f, s in zip(seen, stale, strict=True)]
            states.append(_STALE if all(us is not None for us in seen) else _MISSING)
        newest = max((us for us in seen if us is not None), default=None)
        stamps.append(from_us(newest) if newest is not None and states[-1] != _MISSING else None)
    return states, stamps


def _statuses(states: list[int], values: list[Any]) -> list[Status]:
    """Per row, the status of one feature's value; a value not fresh is withheld (None),
    as the gateway withholds it from a model."""
    out: list[Status] = []
    for i, state in enumerate(states):
        if state == _FRESH:
            out.append("PRESENT" if values[i] is not None else "NULL_VALUE")
        else:
            out.append("OUTSIDE_MAX_AGE" if state == _STALE else "NOT_FOUND")
            values[i] = None
    return out

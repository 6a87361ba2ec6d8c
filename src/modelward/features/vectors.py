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
        return {
            "metadata": {"feature_names": self.feature_names},
            "results": [
                {
                    "values": [_json_value(v) for v in c.values],
                    "statuses": list(c.statuses),
                    "event_timestamps": [_stamp(t) for t in c.event_timestamps],
                }
                for c in self.columns
            ],
        }

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
            statuses, stamps = _freshness(sel.view, result, values, n)
            if sel.view.feature(name).pii and not may_read_pii:
                values = [None] * n
                statuses = ["REDACTED"] * n
                redacted.append(shown)
            columns.append(FeatureColumn(shown, values, statuses, stamps))
    return FeatureVectors(columns, redacted)


def _freshness(
    view: Any, result: OnlineResult, values: list[Any], n: int
) -> tuple[list[Status], list[datetime | None]]:
    """Per row, the status and event time of a feature of ``view``; an on-demand feature
    takes the worst status of its inputs and their newest event time."""
    deps = [view] if isinstance(view, FeatureView) else list(view.inputs)
    statuses: list[Status] = []
    stamps: list[datetime | None] = []
    for i in range(n):
        fresh = [result.event_us[d.name][i] for d in deps]
        stale = [result.expired_us.get(d.name, [None] * n)[i] for d in deps]
        if all(us is not None for us in fresh):
            statuses.append("PRESENT" if values[i] is not None else "NULL_VALUE")
            newest = max((us for us in fresh if us is not None), default=None)
        elif all(f is not None or s is not None for f, s in zip(fresh, stale, strict=True)):
            statuses.append("OUTSIDE_MAX_AGE")
            values[i] = None  # a stale value is never served, as in the gateway
            newest = max((us for us in (*fresh, *stale) if us is not None), default=None)
        else:
            statuses.append("NOT_FOUND")
            values[i] = None
            newest = None
        stamps.append(from_us(newest) if newest is not None else None)
    return statuses, stamps

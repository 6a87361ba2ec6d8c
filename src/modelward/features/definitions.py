"""Feature definitions, written once in Python: entities, feature views, on-demand transforms.

A definition is plain data plus, for an on-demand transform, one vectorised function. Its
:attr:`definition_hash` is the version: the hash of everything that decides the values
(source, keys, timestamps, features and their types, TTL, rules, transform code) and of
the metadata people rely on (owner, descriptions, PII marks, tags).

Example::

    driver = Entity("driver", join_keys=["driver_id"])
    stats = FeatureView(
        name="driver_stats",
        entities=[driver],
        source="data/driver_stats.parquet",
        timestamp="event_timestamp",
        created_timestamp="created",
        features=[Feature("trips", "int64", "trips in the last hour")],
        ttl=timedelta(days=1),
        owner="ml-platform@example.com",
    )

    @on_demand(inputs=[stats], request=[Feature("distance_km", "float64")],
               outputs=[Feature("trips_per_km", "float64")], owner="ml-platform@example.com")
    def trip_density(table: pa.Table) -> dict[str, pa.Array]:
        return {"trips_per_km": pc.divide(table["trips"], table["distance_km"])}
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import pyarrow as pa

from modelward.errors import InputError
from modelward.features.packing import CODEC_VERSION, DType

if TYPE_CHECKING:
    from modelward.data import Contract

__all__ = [
    "DType",
    "Entity",
    "Feature",
    "FeatureView",
    "OnDemandView",
    "Rule",
    "SnapshotSource",
    "View",
    "on_demand",
]

_DTYPES: tuple[str, ...] = get_args(DType)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

#: DuckDB type each feature type is cast to, so offline and online values have one type
DUCKDB_TYPES: dict[str, str] = {
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "string": "VARCHAR",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
}
ARROW_TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(
            f"{kind} name {name!r} is invalid: use letters, digits and underscores, "
            "starting with a letter or underscore (at most 128 characters)",
            field="name",
        )


@dataclass(frozen=True)
class Entity:
    """What features describe (a driver, a customer), identified by its join key column(s)."""

    name: str
    join_keys: tuple[str, ...]
    description: str = ""

    def __init__(self, name: str, join_keys: Sequence[str] | str, description: str = "") -> None:
        _check_name("entity", name)
        keys = (join_keys,) if isinstance(join_keys, str) else tuple(join_keys)
        if not keys:
            raise InputError(f"entity {name!r}: join_keys must name at least one column")
        for key in keys:
            _check_name(f"entity {name!r} join key", key)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "join_keys", keys)
        object.__setattr__(self, "description", description)


@dataclass(frozen=True)
class Feature:
    """One typed value of a view. ``pii`` marks values that must be redacted in logs."""

    name: str
    dtype: DType
    description: str = ""
    pii: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("feature", self.name)
        if self.dtype not in _DTYPES:
            raise InputError(
                f"feature {self.name!r}: dtype {self.dtype!r} is not one of {', '.join(_DTYPES)}",
                field="dtype",
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "description": self.description,
            "pii": self.pii,
            "tags": dict(sorted(self.tags.items())),
        }


RuleKind = Literal["not_null", "between", "one_of", "max_null_rate"]


@dataclass(frozen=True)
class Rule:
    """A validation rule checked on every batch before it reaches the online store.

    The same vocabulary as data contracts' column checks: ``not_null``, ``between``
    (inclusive bounds, either may be open), ``one_of`` and ``max_null_rate``.
    """

    kind: RuleKind
    column: str
    min: float | None = None
    max: float | None = None
    values: tuple[Any, ...] = ()
    rate: float | None = None

    @classmethod
    def not_null(cls, column: str) -> Rule:
        return cls("not_null", column)

    @classmethod
    def between(cls, column: str, min: float | None = None, max: float | None = None) -> Rule:
        return cls("between", column, min=min, max=max)

    @classmethod
    def one_of(cls, column: str, values: Sequence[Any]) -> Rule:
        return cls("one_of", column, values=tuple(values))

    @classmethod
    def max_null_rate(cls, column: str, rate: float) -> Rule:
        return cls("max_null_rate", column, rate=rate)

    @property
    def label(self) -> str:
        if self.kind == "between":
            return f"{self.column} between {self.min} and {self.max}"
        if self.kind == "one_of":
            return f"{self.column} one of {list(self.values)}"
        if self.kind == "max_null_rate":
            return f"{self.column} null rate <= {self.rate}"
        return f"{self.column} not null"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "min": self.min,
            "max": self.max,
            "values": list(self.values),
            "rate": self.rate,
        }


@dataclass(frozen=True)
class SnapshotSource:
    """A dataset snapshot as a source: ``"name@version"``, ``"name"`` (latest) or an id."""

    ref: str


def _source_descriptor(source: str | Path | SnapshotSource) -> dict[str, str]:
    if isinstance(source, SnapshotSource):
        return {"kind": "snapshot", "ref": source.ref}
    text = str(source)
    if text.startswith("snapshot:"):
        return {"kind": "snapshot", "ref": text.removeprefix("snapshot:")}
    if re.match(r"^\s*(select|with|from|\()", text, re.IGNORECASE):
        return {"kind": "sql", "sql": " ".join(text.strip().rstrip(";").split())}
    return {"kind": "parquet", "path": text}


def _hash(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class FeatureView:
    """Features read from one source, keyed by entities and stamped with an event time."""

    kind: Literal["batch"] = "batch"

    def __init__(
        self,
        name: str,
        *,
        entities: Sequence[Entity],
        source: str | Path | SnapshotSource,
        features: Sequence[Feature],
        timestamp: str = "event_timestamp",
        created_timestamp: str | None = None,
        ttl: timedelta | None = None,
        owner: str = "",
        description: str = "",
        tags: Mapping[str, str] | None = None,
        rules: Sequence[Rule] = (),
        contract: Contract | None = None,
        online: bool = True,
    ) -> None:
        _check_name("feature view", name)
        if not entities:
            raise InputError(f"feature view {name!r}: give at least one entity", view=name)
        if not features:
            raise InputError(f"feature view {name!r}: give at least one feature", view=name)
        if ttl is not None and ttl <= timedelta(0):
            raise InputError(f"feature view {name!r}: ttl must be positive", view=name)
        self.name = name
        self.entities = tuple(entities)
        self.source = source
        self.features = tuple(features)
        self.timestamp = timestamp
        self.created_timestamp = created_timestamp
        self.ttl = ttl
        self.owner = owner
        self.description = description
        self.tags = dict(tags or {})
        self.rules = tuple(rules)
        #: a data contract checked, like ``rules``, on every materialization batch
        self.contract = contract
        self.online = online
        self._check_columns()

    def _check_columns(self) -> None:
        seen: dict[str, str] = {}
        for role, col in [
            *(("join key", k) for k in self.join_keys),
            ("timestamp", self.timestamp),
            *((("created timestamp", self.created_timestamp),) if self.created_timestamp else ()),
            *(("feature", f.name) for f in self.features),
        ]:
            _check_name(f"feature view {self.name!r} {role}", col)
            if col in seen:
                raise InputError(
                    f"feature view {self.name!r}: column {col!r} is used as both "
                    f"{seen[col]} and {role}; each column has one role",
                    view=self.name,
                    column=col,
                )
            seen[col] = role
        for rule in self.rules:
            if rule.column not in self.feature_names:
                raise InputError(
                    f"feature view {self.name!r}: rule {rule.label!r} names {rule.column!r}, "
                    f"which is not a feature of the view ({', '.join(self.feature_names)})",
                    view=self.name,
                    column=rule.column,
                )

    @property
    def join_keys(self) -> tuple[str, ...]:
        keys: list[str] = []
        for entity in self.entities:
            keys.extend(k for k in entity.join_keys if k not in keys)
        return tuple(keys)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> Feature:
        for feat in self.features:
            if feat.name == name:
                return feat
        raise _unknown_feature(self.name, name, self.feature_names)

    @property
    def source_descriptor(self) -> dict[str, str]:
        return _source_descriptor(self.source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "entities": [
                {"name": e.name, "join_keys": list(e.join_keys), "description": e.description}
                for e in self.entities
            ],
            "source": self.source_descriptor,
            "timestamp": self.timestamp,
            "created_timestamp": self.created_timestamp,
            "features": [f.to_dict() for f in self.features],
            "ttl_s": self.ttl.total_seconds() if self.ttl is not None else None,
            "owner": self.owner,
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
            "rules": [r.to_dict() for r in self.rules],
            "contract": self.contract.content_hash() if self.contract is not None else None,
            "online": self.online,
        }

    @property
    def definition_hash(self) -> str:
        return _hash(self.to_dict())

    @property
    def online_namespace(self) -> str:
        """Where the view's values live online: its name plus a hash of the value layout.

        Only keys, feature names and types decide the layout, so a new description keeps
        the materialized values while a type change starts from an empty namespace.
        """
        layout = {
            "keys": list(self.join_keys),
            "features": [[f.name, f.dtype] for f in self.features],
            "codec": CODEC_VERSION,
        }
        return f"{self.name}_{_hash(layout)[:8]}"

    def __repr__(self) -> str:
        return f"FeatureView({self.name!r}, version={self.definition_hash})"


Transform = Callable[[pa.Table], Any]


class OnDemandView:
    """Features computed at request time by one vectorised function.

    The function takes a :class:`pyarrow.Table` (the input views' features by their plain
    names plus the request fields) and returns a table or a mapping of output name to an
    array-like of the same length. The offline join and the online lookup both call it.
    """

    kind: Literal["on_demand"] = "on_demand"

    def __init__(
        self,
        name: str,
        *,
        function: Transform,
        inputs: Sequence[FeatureView],
        outputs: Sequence[Feature],
        request: Sequence[Feature] = (),
        owner: str = "",
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        _check_name("on-demand view", name)
        if not outputs:
            raise InputError(f"on-demand view {name!r}: give at least one output feature")
        self.name = name
        self.function = function
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.request = tuple(request)
        self.owner = owner
        self.description = description or (inspect.getdoc(function) or "")
        self.tags = dict(tags or {})
        columns: dict[str, str] = {}
        for origin, names in [
            *((v.name, v.feature_names) for v in self.inputs),
            ("request", tuple(f.name for f in self.request)),
        ]:
            for col in names:
                if col in columns:
                    raise InputError(
                        f"on-demand view {name!r}: input column {col!r} comes from both "
                        f"{columns[col]} and {origin}; rename one of them",
                        view=name,
                        column=col,
                    )
                columns[col] = origin

    @property
    def features(self) -> tuple[Feature, ...]:
        return self.outputs

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.outputs)

    @property
    def join_keys(self) -> tuple[str, ...]:
        keys: list[str] = []
        for view in self.inputs:
            keys.extend(k for k in view.join_keys if k not in keys)
        return tuple(keys)

    def feature(self, name: str) -> Feature:
        for feat in self.outputs:
            if feat.name == name:
                return feat
        raise _unknown_feature(self.name, name, self.feature_names)

    def _code(self) -> str:
        try:
            return inspect.getsource(self.function)
        except (OSError, TypeError):
            # defined where no source is kept (a REPL): the bytecode still pins the logic
            code = getattr(self.function, "__code__", None)
            return code.co_code.hex() if code is not None else repr(self.function)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "inputs": [{"name": v.name, "definition_hash": v.definition_hash} for v in self.inputs],
            "request": [f.to_dict() for f in self.request],
            "features": [f.to_dict() for f in self.outputs],
            # the module name is left out: the same file imported by a training script and
            # loaded by the CLI has different module names but the same definition
            "function": getattr(self.function, "__qualname__", repr(self.function)),
            "code_sha256": hashlib.sha256(self._code().encode()).hexdigest(),
            "owner": self.owner,
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
        }

    @property
    def definition_hash(self) -> str:
        return _hash(self.to_dict())

    def __repr__(self) -> str:
        return f"OnDemandView({self.name!r}, version={self.definition_hash})"


View = FeatureView | OnDemandView


def on_demand(
    *,
    inputs: Sequence[FeatureView],
    outputs: Sequence[Feature],
    request: Sequence[Feature] = (),
    name: str | None = None,
    owner: str = "",
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> Callable[[Transform], OnDemandView]:
    """Declare a request-time transform; the decorated function becomes an :class:`OnDemandView`."""

    def wrap(function: Transform) -> OnDemandView:
        return OnDemandView(
            name or function.__name__,
            function=function,
            inputs=inputs,
            outputs=outputs,
            request=request,
            owner=owner,
            description=description,
            tags=tags,
        )

    return wrap


def _unknown_feature(view: str, name: str, known: Sequence[str]) -> InputError:
    return InputError(
        f"unknown feature {view}:{name}: view {view!r} has {', '.join(known)}",
        view=view,
        feature=name,
    )

"""Endpoint definitions: what a gateway route serves, stored in the metadata database.

An endpoint names the model (``NAME@stage`` or ``NAME@version``), the request fields and
their types, the entity keys and feature views to read online, on-demand transforms, a
latency budget, a fallback, an optional response cache, the PII fields to redact from the
prediction log, and who may call it. Every change bumps ``config_version`` and is audited
in the same transaction; gateways poll the versions and reload only what changed.

Example::

    spec = EndpointSpec(
        name="churn",
        model="churn@production",
        request={"customer_id": "int", "email": "string", "discount": "float"},
        entity_keys=["customer_id"],
        features=["customer_stats:tenure_months", "customer_stats:monthly_spend"],
        latency_budget_ms=50,
        fallback=Fallback(response=0.0),
        pii_fields=["email"],
    )
    create_endpoint(session, principal, spec)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Connection, Row, delete, insert, select, update

from modelward import security
from modelward.errors import ConfigError, Conflict, InputError, NotFound
from modelward.security import Permission, Principal
from modelward.serving.tables import endpoints

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = [
    "FROM_SIGNATURE",
    "BrokenEndpoint",
    "Endpoint",
    "EndpointSpec",
    "Fallback",
    "FieldType",
    "check_model_refs",
    "create_endpoint",
    "delete_endpoint",
    "get_endpoint",
    "list_endpoints",
    "load_endpoints",
    "parse_spec",
    "update_endpoint",
]

FieldType = Literal["float", "int", "bool", "string"]
#: ``request: from_signature``: the request fields come from the model's MLflow signature
FROM_SIGNATURE = "from_signature"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}@([0-9]+|[A-Za-z]+)$")
_INT64 = (-(2**63), 2**63 - 1)


def _unstorable(value: Any, where: str = "response") -> str | None:
    """Why ``value`` cannot be stored as JSON and sent back in a response, or None.

    The stored definition is JSON (SQLite and Postgres), the answer is JSON (orjson): no
    NaN or infinity, integers within 64 bits, text that UTF-8 can carry.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where}: {value!r} is not a finite number"
    if isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            return None
        return f"{where}: an integer beyond 64 bits cannot be stored"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where}: text with a lone surrogate cannot be stored"
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if (why := _unstorable(item, f"{where}[{i}]")) is not None:
                return why
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where}: object keys must be strings"
            if (why := _unstorable(key, where) or _unstorable(item, f"{where}.{key}")) is not None:
                return why
        return None
    return f"{where}: a {type(value).__name__} is not a JSON value"


class Fallback(BaseModel):
    """What answers (with ``degraded: true``) when the model or the features fail.

    Either another model version (``model = "churn@2"``) or a fixed ``response``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    #: any JSON value; NaN and infinity are refused (the definition is stored as JSON)
    response: Any = None

    @model_validator(mode="after")
    def _one_of(self) -> Fallback:
        if (self.model is None) == (self.response is None):
            raise ValueError("give exactly one of model (NAME@VERSION) or response")
        if self.model is not None and not _REF.match(self.model):
            raise ValueError(f"model {self.model!r} is not NAME@VERSION or NAME@stage")
        if (why := _unstorable(self.response)) is not None:
            raise ValueError(f"{why} (a fallback response must be plain JSON)")
        return self


class EndpointSpec(BaseModel):
    # NaN/inf in a number setting (cache_ttl_s = inf passes ge=0) could not be stored as JSON
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    #: ``NAME@production``, ``NAME@staging`` or ``NAME@3``
    model: str
    #: request fields and their types; or ``from_signature``: the model's MLflow signature
    #: inputs that no online feature provides, typed by the signature (at load)
    request: dict[str, FieldType] | Literal["from_signature"]
    #: request fields that key the online feature lookup
    entity_keys: list[str] = Field(default_factory=list)
    #: online features to read: ``"view:feature"`` or ``"view"``
    features: list[str] = Field(default_factory=list)
    #: on-demand views computed at request time (the same code as training)
    transforms: list[str] = Field(default_factory=list)
    #: model input columns in order, for a model that names none; default: what the
    #: model's signature names, else request fields that are not keys or PII, then features
    model_inputs: list[str] | None = None
    latency_budget_ms: float = Field(default=100.0, gt=0, le=60_000)
    fallback: Fallback | None = None
    #: seconds an identical request's answer is reused; 0 turns the cache off
    cache_ttl_s: float = Field(default=0.0, ge=0)
    #: request fields replaced by ``"[redacted]"`` in the prediction log
    pii_fields: list[str] = Field(default_factory=list)
    #: identity names (or ``role:<role>``) that may call; empty: any authenticated identity
    callers: list[str] = Field(default_factory=list)
    #: score requests already waiting in one model call (opportunistic, no timed wait)
    batching: bool = True
    #: run the model on its own thread, so the deadline can cut a hung call short; false:
    #: on the event loop (least overhead; an overrun is only seen when the call returns)
    isolate_model: bool = True
    max_batch: int = Field(default=64, ge=1, le=10_000)
    #: ``proba``: positive-class probability (binary) or class probabilities; ``predict``
    output: Literal["auto", "proba", "predict"] = "auto"
    #: rows per request at most (a batch request)
    max_rows: int = Field(default=1_000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _consistent(self) -> EndpointSpec:
        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name[:60]!r}: use 1-128 letters, digits, '_', '-' or '.'")
        if not _REF.match(self.model):
            raise ValueError(f"model {self.model!r}: expected NAME@VERSION or NAME@stage")
        if not self.request:
            raise ValueError("request: declare at least one request field, or from_signature")
        if isinstance(self.request, dict):  # from_signature is checked against the model
            for field in self.request:
                if not _FIELD.match(field):
                    raise ValueError(f"request field {field!r}: use letters, digits and '_'")
            for group, names in (
                ("entity_keys", self.entity_keys),
                ("pii_fields", self.pii_fields),
            ):
                unknown = [n for n in names if n not in self.request]
                if unknown:
                    raise ValueError(f"{group}: {', '.join(unknown)} not among the request fields")
        if self.features and not self.entity_keys:
            raise ValueError("entity_keys: online features need at least one entity key")
        return self

    @property
    def feature_refs(self) -> list[str]:
        return [*self.features, *self.transforms]


def parse_spec(data: dict[str, Any]) -> EndpointSpec:
    """Validate ``data`` into a spec; errors name each bad field."""
    try:
        return EndpointSpec.model_validate(data)
    except ValidationError as exc:
        parts = []
        # `request` is a mapping or the word from_signature: report only the branch the
        # value meant, under the field's own name (pydantic names both union members)
        given = data.get("request") if isinstance(data, dict) else None
        meant = "dict[" if isinstance(given, dict) else "literal["
        for err in exc.errors():
            loc = err["loc"]
            branch = [p for p in loc if isinstance(p, str) and p.startswith(("dict[", "literal["))]
            if loc[:1] == ("request",) and branch and not branch[0].startswith(meant):
                continue
            where = ".".join(str(p) for p in loc if p not in branch) or "endpoint"
            parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise InputError("invalid endpoint: " + "; ".join(parts), field="endpoint") from None


@dataclass(frozen=True)
class Endpoint:
    spec: EndpointSpec
    config_version: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "config_version": self.config_version,
            "spec": self.spec.model_dump(mode="json"),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class BrokenEndpoint:
    """A stored endpoint whose definition no longer validates (written by an older release,
    or edited in the database): listed with its problem, never served, never fatal to the
    others."""

    name: str
    config_version: int
    #: why the stored definition is refused, naming the field and the rule
    problem: str
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "config_version": self.config_version,
            # the stored JSON may hold what a response cannot (NaN): only the problem
            "spec": None,
            "problem": self.problem,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


def _from_row(row: Row[Any]) -> Endpoint | BrokenEndpoint:
    try:
        spec = parse_spec(row.spec if isinstance(row.spec, dict) else {"spec": row.spec})
    except InputError as exc:
        return BrokenEndpoint(
            row.name,
            row.config_version,
            exc.message.removeprefix("invalid endpoint: "),
            row.created_by,
            row.created_at,
            row.updated_by,
            row.updated_at,
        )
    return Endpoint(
        spec, row.config_version, row.created_by, row.created_at, row.updated_by, row.updated_at
    )


def _servable(found: Endpoint | BrokenEndpoint) -> Endpoint:
    if isinstance(found, BrokenEndpoint):
        raise ConfigError(
            f"endpoint {found.name!r} has an invalid stored definition: {found.problem}; "
            "replace it (endpoints update) or delete it",
            endpoint=found.name,
            field="spec",
        )
    return found


def check_model_refs(session: Session, spec: EndpointSpec) -> None:
    """Refuse a definition whose model (or fallback model) the registry does not know.

    ``NAME@3`` must be a registered version; ``NAME@production``/``@staging`` a registered
    model (the stage may still be empty: the endpoint then serves its fallback, and the
    gateway's ``/readyz`` says why, until a version enters the stage); ``request:
    from_signature`` a version logged with a signature that names its inputs. Checked when
    a definition is created or updated, so a typo fails there and not at serve time.
    """
    from modelward.registry import get_version, parse_ref

    fallback = spec.fallback.model if spec.fallback is not None else None
    for field, ref in (("model", spec.model), ("fallback.model", fallback)):
        if ref is None:
            continue
        try:
            name, which = parse_ref(ref)
            version = get_version(session, (name, which))
        except InputError as exc:
            raise InputError(f"invalid endpoint: {field}: {exc.message}", field=field) from None
        except NotFound as exc:
            if isinstance(which, str) and "version" in exc.details:
                continue  # a registered model whose stage is empty for now
            raise InputError(
                f"invalid endpoint: {field}: {ref!r} cannot be served: {exc.message}",
                field=field,
            ) from None
        artifact = version.lineage.get("model_artifact") or {}
        if (
            field == "model"
            and spec.request == FROM_SIGNATURE
            and not artifact.get("signature_inputs")
        ):
            raise InputError(
                f"invalid endpoint: request: from_signature, but {version.ref} was logged "
                "without an MLflow signature naming its inputs; log it with one "
                "(mlflow.models.infer_signature) or write the request fields",
                field="request",
            )


def create_endpoint(session: Session, actor: Principal, spec: EndpointSpec) -> Endpoint:
    actor.require(Permission.ENDPOINTS_WRITE)
    check_model_refs(session, spec)
    now = datetime.now(UTC)
    body = spec.model_dump(mode="json")
    with session.store.transaction() as conn:
        if conn.execute(select(endpoints.c.name).where(endpoints.c.name == spec.name)).first():
            raise Conflict(
                f"endpoint {spec.name!r} already exists; update it instead", endpoint=spec.name
            )
        conn.execute(
            insert(endpoints).values(
                name=spec.name,
                spec=body,
                config_version=1,
                created_by=actor.name,
                created_at=now,
                updated_by=actor.name,
                updated_at=now,
            )
        )
        security.record(
            conn,
            actor=actor.name,
            action="endpoint.created",
            target=f"endpoint:{spec.name}",
            payload={"config_version": 1, "spec": body},
        )
    return Endpoint(spec, 1, actor.name, now, actor.name, now)


def update_endpoint(
    session: Session, actor: Principal, spec: EndpointSpec, *, expected_version: int | None = None
) -> Endpoint:
    """Replace the definition; ``expected_version`` refuses a change made on a stale read."""
    actor.require(Permission.ENDPOINTS_WRITE)
    check_model_refs(session, spec)
    now = datetime.now(UTC)
    body = spec.model_dump(mode="json")
    with session.store.transaction() as conn:
        row = conn.execute(select(endpoints).where(endpoints.c.name == spec.name)).first()
        if row is None:
            raise NotFound(f"endpoint {spec.name!r} does not exist", endpoint=spec.name)
        if expected_version is not None and row.config_version != expected_version:
            raise Conflict(
                f"endpoint {spec.name!r} is at config version {row.config_version}, "
                f"not {expected_version}; read it again",
                endpoint=spec.name,
            )
        before = row.spec if isinstance(row.spec, dict) else {}
        changed = sorted(k for k in body if body[k] != before.get(k))
        version = row.config_version + 1
        conn.execute(
            update(endpoints)
            .where(endpoints.c.name == spec.name)
            .values(spec=body, config_version=version, updated_by=actor.name, updated_at=now)
        )
        security.record(
            conn,
            actor=actor.name,
            action="endpoint.updated",
            target=f"endpoint:{spec.name}",
            payload={"config_version": version, "changed": changed, "spec": body},
        )
    return Endpoint(spec, version, row.created_by, row.created_at, actor.name, now)


def delete_endpoint(
    session: Session, actor: Principal, name: str, *, expected_version: int | None = None
) -> Endpoint | BrokenEndpoint:
    """Remove an endpoint (audited with its last definition); gateways stop serving it at
    their next refresh. ``expected_version`` refuses a delete made on a stale read."""
    actor.require(Permission.ENDPOINTS_WRITE)
    with session.store.transaction() as conn:
        row = conn.execute(select(endpoints).where(endpoints.c.name == name)).first()
        if row is None:
            raise NotFound(f"endpoint {name[:60]!r} does not exist", endpoint=name[:60])
        if expected_version is not None and row.config_version != expected_version:
            raise Conflict(
                f"endpoint {name!r} is at config version {row.config_version}, "
                f"not {expected_version}; read it again",
                endpoint=name,
            )
        conn.execute(delete(endpoints).where(endpoints.c.name == name))
        security.record(
            conn,
            actor=actor.name,
            action="endpoint.deleted",
            target=f"endpoint:{name}",
            payload={"config_version": row.config_version, "spec": row.spec},
        )
    return _from_row(row)  # a broken definition can be deleted (that is its way out)


def get_endpoint(session: Session, name: str) -> Endpoint:
    with session.store.read() as conn:
        row = conn.execute(select(endpoints).where(endpoints.c.name == name)).first()
    if row is None:
        raise NotFound(f"endpoint {name[:60]!r} does not exist", endpoint=name[:60])
    return _servable(_from_row(row))


def list_endpoints(session: Session) -> list[Endpoint | BrokenEndpoint]:
    """Every endpoint; one whose stored definition is invalid is a :class:`BrokenEndpoint`."""
    with session.store.read() as conn:
        return load_endpoints(conn)


def load_endpoints(conn: Connection) -> list[Endpoint | BrokenEndpoint]:
    """Every endpoint, for the gateway's background refresh (one query); a row that does not
    validate is returned as a :class:`BrokenEndpoint`, so it cannot stop the others."""
    return [_from_row(r) for r in conn.execute(select(endpoints).order_by(endpoints.c.name))]

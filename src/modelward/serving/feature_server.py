"""The feature server: online feature values over HTTP, in the shape Feast's server uses.

``POST /get-online-features`` takes ``{"features": ["view:feature", ...]}`` (or
``{"feature_service": NAME}``) and ``{"entities": {"driver_id": [1, 2]}}`` and answers
``{"metadata": {"feature_names": [...]}, "results": [{"values", "statuses",
"event_timestamps"}, ...]}``, one result per column (entity keys first), with Feast's
statuses (see :mod:`modelward.features.vectors`). ``modelward features serve`` runs it.

The rules are the gateway's: the same token check (cached, with the same grace when the
metadata database is unreachable, :class:`~modelward.serving.auth.TokenVerifier`), the
``features:read`` permission, the same :class:`~modelward.features.FeatureLookup` (TTL:
a stale value is withheld, never served), and features marked PII come back ``REDACTED``
unless the caller's role has ``features:read_pii``. A feature service is an endpoint's
feature list (its ``features`` and ``transforms``): the features that endpoint's model is
served with. What happens before a route runs, in order: the token (401 before the body
is read), the body under ``max_body_bytes`` and ``body_timeout_s`` (413, 408).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from modelward.errors import (
    InternalError,
    ModelwardError,
    NotFound,
    OnlineStoreUnavailable,
)
from modelward.security import Permission, Principal
from modelward.serving.http_problems import install_problem_handlers, problem_response_for
from modelward.serving.intake import ClientGone, read_body
from modelward.serving.openapi import add_problem_answers, problem_answer

if TYPE_CHECKING:
    from modelward.features import FeatureLookup
    from modelward.serving.auth import TokenVerifier
    from modelward.session import Session

__all__ = [
    "FEATURE_PATH",
    "MAX_ENTITY_ROWS",
    "OnlineFeaturesRequest",
    "OnlineFeaturesResponse",
    "create_feature_server",
    "feature_server_for",
    "feature_server_from_environment",
]

_log = logging.getLogger("modelward.serving")
FEATURE_PATH = "/get-online-features"
#: entity rows per request: a request names its rows, so a bound keeps one bounded
MAX_ENTITY_ROWS = 1_000
_PRINCIPAL = "modelward_principal"
#: seconds a feature service (an endpoint's feature list) is trusted before re-reading it
_SERVICES_TTL_S = 10.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
EntityValue = StrictBool | StrictInt | _Finite | StrictStr


class OnlineFeaturesRequest(BaseModel):
    """Feast's request: the features (or a feature service) and the entity rows."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "features": ["customer_stats:tenure", "customer_stats:monthly_charges"],
                    "entities": {"customer_id": [1001, 1002]},
                }
            ]
        },
    )

    features: list[Annotated[str, Field(min_length=1, max_length=300)]] | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description='"view:feature" or "view" (all its features); or give feature_service.',
    )
    feature_service: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="An endpoint's name: the features its model is served with.",
    )
    entities: dict[
        Annotated[str, Field(min_length=1, max_length=128)],
        Annotated[list[EntityValue], Field(min_length=1, max_length=MAX_ENTITY_ROWS)],
    ] = Field(
        min_length=1,
        max_length=64,
        description="Join-key columns (and an on-demand view's request fields), equal lengths.",
    )
    full_feature_names: bool = Field(
        default=False, description="Name features `view__feature`, as Feast does."
    )

    @model_validator(mode="after")
    def _one_selection_and_equal_rows(self) -> OnlineFeaturesRequest:
        if (self.features is None) == (self.feature_service is None):
            raise ValueError("give exactly one of features and feature_service")
        lengths = {len(v) for v in self.entities.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{k}={len(v)}" for k, v in self.entities.items())
            raise ValueError(f"entity columns must have equal lengths: {shown}")
        return self


Status = Literal["PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE", "REDACTED"]
Value = StrictBool | StrictInt | float | StrictStr | None


class FeatureResult(BaseModel):
    values: list[Value]
    statuses: list[Status]
    event_timestamps: list[str | None] = Field(
        description="ISO 8601 (UTC) event time of each value; the epoch for entity keys."
    )


class ResponseMetadata(BaseModel):
    feature_names: list[str]


class OnlineFeaturesResponse(BaseModel):
    """Feast's answer: one result per column, entity keys first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "metadata": {"feature_names": ["customer_id", "tenure"]},
                    "results": [
                        {
                            "values": [1001, 1002],
                            "statuses": ["PRESENT", "PRESENT"],
                            "event_timestamps": ["1970-01-01T00:00:00Z"] * 2,
                        },
                        {
                            "values": [12, None],
                            "statuses": ["PRESENT", "NOT_FOUND"],
                            "event_timestamps": ["2026-12-01T08:00:00Z", None],
                        },
                    ],
                }
            ]
        }
    )

    metadata: ResponseMetadata
    results: list[FeatureResult]


class Health(BaseModel):
    status: Literal["ok"]


# --- the app ------------------------------------------------------------------------------


class _Intake:
    """Token first (401 before a byte of the body is read), then the body, bounded."""

    def __init__(
        self, app: ASGIApp, verifier: TokenVerifier, max_body_bytes: int, body_timeout_s: float
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.max_body = max_body_bytes
        self.timeout = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != FEATURE_PATH:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        try:
            auth = headers.get(b"authorization")
            who = await self.verifier.principal(auth.decode("latin-1") if auth else None)
            scope.setdefault("state", {})[_PRINCIPAL] = who
            body = await read_body(
                receive, headers.get(b"content-length"), self.max_body, self.timeout
            )
        except ClientGone:
            return
        except ModelwardError as exc:
            await problem_response_for(exc)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _reader(request: Request) -> Principal:
    who = request.scope.get("state", {}).get(_PRINCIPAL)
    if not isinstance(who, Principal):  # the intake layer always sets it on this path
        raise InternalError("the feature server was assembled without its token check")
    who.require(Permission.FEATURES_READ)
    return who


FeatureServices = Callable[[], Mapping[str, Sequence[str]]]


def create_feature_server(
    lookup: Callable[[], FeatureLookup],
    verifier: TokenVerifier,
    *,
    feature_services: FeatureServices | None = None,
    max_body_bytes: int = 1_048_576,
    body_timeout_s: float = 15.0,
    on_close: Callable[[], None] | None = None,
) -> ASGIApp:
    """The feature server's ASGI app. ``lookup`` gives the process's one lookup (made on
    first use); ``feature_services`` maps a service name to its feature references."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if on_close is not None:
            on_close()

    app = FastAPI(
        title="modelward feature server",
        version="1",
        summary="Online feature values for entities, in Feast's request and answer shape.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_problem_handlers(app)

    def features_of(body: OnlineFeaturesRequest) -> list[str]:
        if body.features is not None:
            return body.features
        services = feature_services() if feature_services is not None else {}
        name = body.feature_service or ""
        found = services.get(name)
        if found is None:
            raise NotFound(
                f"feature_service: no feature service {name[:128]!r} (a feature service is "
                "an endpoint that reads online features)",
                field="feature_service",
            )
        return list(found)

    @app.post(
        FEATURE_PATH,
        response_model=OnlineFeaturesResponse,
        tags=["features"],
        openapi_extra={"security": [{"bearer": []}]},
    )
    def get_online_features(
        body: OnlineFeaturesRequest, who: Annotated[Principal, Depends(_reader)]
    ) -> Response:
        """Feature values for each entity row, each with its status and event time."""
        from modelward.features import read_vectors

        refs = features_of(body)
        try:
            vectors = read_vectors(
                lookup(),
                body.entities,
                refs,
                full_feature_names=body.full_feature_names,
                may_read_pii=who.can(Permission.FEATURES_READ_PII),
            )
        except ModelwardError:
            raise
        except Exception as exc:  # the store's own error (a driver's): 503, not a 500
            _log.warning("feature server: online store read failed: %s", type(exc).__name__)
            raise OnlineStoreUnavailable(
                f"the online store could not be read ({type(exc).__name__}); retry shortly"
            ) from None
        # sent as is: re-validating every value against the response model would cost more
        # than the lookup (the schema stays in the document; schemathesis checks answers)
        return Response(orjson.dumps(vectors.to_feast()), media_type="application/json")

    @app.get("/health", response_model=Health, tags=["health"])
    def health() -> dict[str, str]:
        """Liveness (no token needed)."""
        return {"status": "ok"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            spec.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            add_problem_answers(spec, {})
            answers = spec["paths"][FEATURE_PATH]["post"]["responses"]
            answers.update(
                {
                    "400": problem_answer("The body is not JSON (or not UTF-8)."),
                    "401": problem_answer("No token, or a token that is not valid."),
                    "403": problem_answer("The token's role lacks `features:read`."),
                    "404": problem_answer("The feature service does not exist."),
                    "408": problem_answer("The body did not arrive within `body_timeout_s`."),
                    "413": problem_answer("The body is over `max_body_bytes`."),
                    "422": problem_answer(
                        "A field breaks a rule (`errors` names each), or a feature or entity "
                        "key is unknown."
                    ),
                    "503": problem_answer(
                        "The online store or the token database is unreachable.",
                        retry_after=True,
                    ),
                }
            )
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return _Intake(app, verifier, max_body_bytes, body_timeout_s)


def feature_server_for(session: Session) -> ASGIApp:
    """The feature server over ``session``'s workspace (closed with the app)."""
    from modelward.features import FeatureLookup, load_catalog, online_store
    from modelward.security import authenticate
    from modelward.serving.auth import TokenVerifier
    from modelward.serving.endpoints import Endpoint, load_endpoints

    settings = session.workspace.settings.serving
    made: list[FeatureLookup] = []
    services: list[tuple[float, dict[str, list[str]]]] = []

    def lookup() -> FeatureLookup:
        if not made:
            made.append(FeatureLookup(online_store(session), load_catalog(session)))
        return made[0]

    def feature_services() -> dict[str, list[str]]:
        if not services or services[0][0] < time.monotonic():
            with session.store.read() as conn:
                found = {
                    e.spec.name: e.spec.feature_refs
                    for e in load_endpoints(conn)
                    if isinstance(e, Endpoint) and e.spec.feature_refs
                }
            services[:] = [(time.monotonic() + _SERVICES_TTL_S, found)]
        return services[0][1]

    def check(token: str) -> Principal:
        with session.store.read() as conn:
            return authenticate(conn, token)

    def close() -> None:
        for found in made:
            found.store.close()
        session.close()

    return create_feature_server(
        lookup,
        TokenVerifier(check, settings.token_cache_s, grace_s=settings.token_grace_s),
        feature_services=feature_services,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        on_close=close,
    )


def feature_server_from_environment() -> ASGIApp:
    """The uvicorn factory (``--factory``): the workspace from ``$MODELWARD_WORKSPACE``."""
    from modelward.session import open_session

    return feature_server_for(open_session())

"""``/api/v1/rollout``: releases on an endpoint (read: viewer; act: operator).

The same public functions the CLI calls: ``serving.start_release`` to start (the endpoint's
model is the baseline), ``rollout.<verb>`` for every change, each audited. A change on a
stale ``expected_version``, a second live release, or a change the release's state does
not allow is 409; a policy field that breaks a rule is 422 naming it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.deps import CurrentSession, known_query_only, requires
from modelward.api.schemas import ReleaseOut, ShadowReportOut
from modelward.security import Permission, Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/rollout", tags=["rollout"], dependencies=[Depends(known_query_only)]
)

ReleaseReader = Annotated[Principal, Depends(requires(Permission.RELEASES_READ))]
ReleaseOperator = Annotated[Principal, Depends(requires(Permission.RELEASES_OPERATE))]
Endpoint = Annotated[str, Path(min_length=1, max_length=128)]
ExpectedVersion = Annotated[
    int | None,
    Query(ge=1, le=2**63 - 1, description="Refuse the change if the release moved on."),
]
Verb = Literal["advance", "pause", "resume", "promote", "abort", "rollback"]


class StartRelease(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"candidate": "churn@3", "strategy": "canary"}]},
    )

    candidate: str = Field(min_length=3, max_length=200, description="NAME@VERSION")
    strategy: Literal["canary", "blue-green", "blue_green", "shadow"] = "canary"
    policy: dict[str, Any] | None = Field(
        default=None, description="Steps, metrics and thresholds, as in the CLI's --policy file."
    )


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2_000)


@router.get("", response_model=list[ReleaseOut])
def list_releases(
    session: CurrentSession,
    _: ReleaseReader,
    endpoint: Annotated[str | None, Query(max_length=128)] = None,
    live: bool = False,
) -> list[dict[str, Any]]:
    from modelward import rollout

    return [r.to_dict() for r in rollout.list_releases(session, endpoint, live_only=live)]


@router.get("/{endpoint}", response_model=ReleaseOut)
def current_release(
    endpoint: Endpoint, session: CurrentSession, _: ReleaseReader
) -> dict[str, Any]:
    from modelward import rollout

    return rollout.current_release(session, endpoint).to_dict()


# not /{endpoint}/<verb>: a POST there is an action on the release
@router.get("/{endpoint}/shadow/report", response_model=ShadowReportOut)
def shadow_report(
    endpoint: Endpoint,
    session: CurrentSession,
    _: ReleaseReader,
    release: Annotated[str | None, Query(max_length=40)] = None,
    segment: Annotated[list[str] | None, Query(max_length=128)] = None,
    threshold: Annotated[float, Query(ge=-1e12, le=1e12)] = 0.5,
    top: Annotated[int, Query(ge=1, le=1_000)] = 10,
) -> dict[str, Any]:
    """Where the endpoint's shadow candidate decides differently (docs/rollout.md)."""
    from modelward import rollout
    from modelward.monitoring import open_workspace_log

    sink = open_workspace_log(session)
    try:
        return rollout.shadow_report(
            session,
            sink,
            endpoint,
            release_id=release,
            segments=segment or (),
            threshold=threshold,
            top=top,
        ).to_dict()
    finally:
        sink.close()


@router.post("/{endpoint}", status_code=201, response_model=ReleaseOut)
def start_release(
    endpoint: Endpoint,
    body: Annotated[StartRelease, Body()],
    session: CurrentSession,
    who: ReleaseOperator,
) -> dict[str, Any]:
    from modelward import rollout, serving

    policy = rollout.parse_policy(body.policy) if body.policy is not None else None
    return serving.start_release(
        session, who, endpoint, candidate=body.candidate, strategy=body.strategy, policy=policy
    ).to_dict()


@router.post("/{endpoint}/{verb}", response_model=ReleaseOut)
def change_release(
    endpoint: Endpoint,
    verb: Verb,
    session: CurrentSession,
    who: ReleaseOperator,
    body: Annotated[Change | None, Body()] = None,
    expected_version: ExpectedVersion = None,
    no_smoke: Annotated[
        bool,
        Query(description="advance, blue-green: switch without a smoke test (audited)."),
    ] = False,
) -> dict[str, Any]:
    from modelward import rollout, serving

    reason = body.reason if body else None
    if verb == "advance":  # a blue-green switch without a gateway: only when asked so
        return serving.advance_release(
            session,
            who,
            endpoint,
            skip_smoke=no_smoke,
            expected_version=expected_version,
            reason=reason,
        ).to_dict()
    change = getattr(rollout, verb)
    release: rollout.Release = change(
        session, who, endpoint, expected_version=expected_version, reason=reason
    )
    return release.to_dict()

"""``/api/v1/retraining``: policies, their decisions, a trigger by hand, the kill switch.

The same public functions as ``modelward retrain``. Reading needs ``models:read``;
triggering, pausing and resuming need ``retraining:operate`` (operators, admins). A trigger
is judged and recorded before the answer (202 with the episode); a run it starts continues
after the answer, and its progress is read back from the episode.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from modelward.api.deps import CurrentSession, known_query_only, requires
from modelward.api.schemas import RetrainEpisodeOut, RetrainPolicyOut, RetrainSwitchOut
from modelward.security import Permission, Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/retraining", tags=["retraining"], dependencies=[Depends(known_query_only)]
)

Reader = Annotated[Principal, Depends(requires(Permission.MODELS_READ))]
Operator = Annotated[Principal, Depends(requires(Permission.RETRAINING_OPERATE))]
PolicyName = Annotated[str, Path(min_length=1, max_length=64)]
Verb = Literal["pause", "resume"]


class Reason(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "new pricing from 1 March"}]}
    )

    reason: str = Field(min_length=1, max_length=500, description="Recorded with the change.")


def _policies(session: Any) -> list[dict[str, Any]]:
    from modelward.retraining import policies_of, switch_states

    switches = switch_states(session)
    every = switches.get("*", {"enabled": True})["enabled"]
    return [
        {
            **p.model_dump(include={"name", "endpoint", "model", "pipeline", "window_days"}),
            "strategies": list(p.strategies),
            "enabled": every and switches.get(p.name, {"enabled": True})["enabled"],
            "definition": p.model_dump(mode="json"),
        }
        for p in policies_of(session)
    ]


@router.get("/policies", response_model=list[RetrainPolicyOut])
def list_policies(session: CurrentSession, _: Reader) -> list[dict[str, Any]]:
    """The workspace's retraining policies and whether their switches are on."""
    return _policies(session)


@router.get("/episodes", response_model=list[RetrainEpisodeOut])
def list_episodes(
    session: CurrentSession,
    _: Reader,
    policy: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    """Decisions newest first, of one policy or of all."""
    from modelward import retraining

    return [e.to_dict() for e in retraining.list_episodes(session, policy, limit=limit)]


@router.get("/episodes/{episode}", response_model=RetrainEpisodeOut)
def get_episode(
    episode: Annotated[str, Path(min_length=1, max_length=64)],
    session: CurrentSession,
    _: Reader,
) -> dict[str, Any]:
    from modelward import retraining

    return retraining.get_episode(session, episode).to_dict()


@router.post("/policies/{name}/trigger", status_code=202, response_model=RetrainEpisodeOut)
def trigger(
    name: PolicyName,
    body: Reason,
    session: CurrentSession,
    who: Operator,
    tasks: BackgroundTasks,
) -> dict[str, Any]:
    """Judge a trigger by hand; a run it starts goes on after the answer."""
    from modelward.retraining import trigger_by_hand

    episode = trigger_by_hand(session, who, name, body.reason, background=tasks.add_task)
    return {**episode.to_dict(), "was_linked": episode.was_linked}


def _switch(session: Any, who: Principal, scope: str, enabled: bool, reason: str) -> dict[str, Any]:
    from modelward.retraining import find_policy, policies_of, set_switch

    if scope != "*":
        find_policy(policies_of(session), scope)
    set_switch(session, who, scope, enabled=enabled, reason=reason)
    return {"scope": scope, "enabled": enabled, "reason": reason}


# declared after /policies/{name}/trigger, which a POST there matches first
@router.post("/policies/{name}/{verb}", response_model=RetrainSwitchOut)
def switch(
    name: PolicyName,
    verb: Verb,
    body: Reason,
    session: CurrentSession,
    who: Operator,
) -> dict[str, Any]:
    """The kill switch of one policy: paused, it still judges and starts nothing."""
    return _switch(session, who, name, verb == "resume", body.reason)


# two fixed paths, not one /{verb}: a path parameter at this level would also take a POST
# to /policies or /episodes and answer 422 where the route does not exist (405)
@router.post("/pause", response_model=RetrainSwitchOut)
def pause_all(body: Reason, session: CurrentSession, who: Operator) -> dict[str, Any]:
    """The every-policy kill switch: every policy still judges, and none starts anything."""
    return _switch(session, who, "*", False, body.reason)


@router.post("/resume", response_model=RetrainSwitchOut)
def resume_all(body: Reason, session: CurrentSession, who: Operator) -> dict[str, Any]:
    return _switch(session, who, "*", True, body.reason)

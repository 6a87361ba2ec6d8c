"""Tables of the rollout context: releases, each a state machine with an optimistic version.

``active_endpoint`` holds the endpoint's name while the release is running or paused and
is NULL otherwise; its unique constraint is what refuses a second live release on one
endpoint, even when two operators start one at the same instant (NULLs never collide).
"""

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from modelward.store import UTCDateTime, metadata

__all__ = ["releases"]

releases = Table(
    "releases",
    metadata,
    Column("id", String(32), nullable=False),
    Column("endpoint", String(128), nullable=False),
    # the release's number on its endpoint (1, 2, ...): the newest is the current one
    Column("seq", Integer, nullable=False),
    Column("active_endpoint", String(128), nullable=True, unique=True),
    Column("strategy", String(16), nullable=False),
    Column("baseline", String(200), nullable=False),
    Column("candidate", String(200), nullable=False),
    # the validated RolloutPolicy as JSON
    Column("policy", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    # index into the policy's steps (canary); 0 or 1 for blue-green (green not / live)
    Column("step", Integer, nullable=False),
    # the current step's window starts here (the judge reads rows since then)
    Column("step_started_at", UTCDateTime(), nullable=False),
    # the first inconclusive analysis of this step, for the deadline
    Column("held_since", UTCDateTime(), nullable=True),
    # bumped by every change: a change made on a stale version is refused (409)
    Column("version", Integer, nullable=False),
    Column("last_analysis", JSON, nullable=True),
    # which controller drives the release, until when
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("endpoint", "seq"),
)

"""Tables of the retraining context: trigger episodes and the kill switches."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from modelward.store import UTCDateTime, metadata

__all__ = ["retrain_episodes", "retrain_switches"]

retrain_episodes = Table(
    "retrain_episodes",
    metadata,
    Column("id", String(32), nullable=False),
    Column("policy", String(128), nullable=False),
    # what identifies the episode: "performance:churn@3", "drift:model_drift:3:<fired>", ...
    Column("key", String(300), nullable=False),
    # performance, drift, schedule, upstream, manual
    Column("kind", String(32), nullable=False),
    # retrain, recalibrate, wait, block
    Column("decision", String(16), nullable=False),
    # waited, blocked, running, releasing, rejected, failed, released, rolled_back, noted,
    # abandoned (a run whose process stopped, closed after the policy's run_timeout_s)
    Column("state", String(16), nullable=False),
    Column("reason", String(2000), nullable=False),
    # [{name, passed, detail}] in the order they ran
    Column("checks", JSON, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("window_start", UTCDateTime(), nullable=True),
    Column("window_end", UTCDateTime(), nullable=True),
    Column("run_id", String(64), nullable=True),
    Column("candidate", String(200), nullable=True),
    Column("release_id", String(64), nullable=True),
    # which of the policy's strategies the release is at (0: the first, e.g. shadow)
    Column("stage", Integer, nullable=False),
    Column("cpu_s", Float, nullable=False),
    # identical triggers seen while it was open or within its cooldown
    Column("linked", Integer, nullable=False),
    # the policy's name while the episode is open (running or releasing), NULL once it is
    # closed: the UNIQUE index lets one open episode per policy exist, whoever inserts it
    Column("open_slot", String(128), nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("closed_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("id"),
    Index("ix_retrain_episodes_policy", "policy", "created_at"),
    Index("ux_retrain_episodes_open", "open_slot", unique=True),
)

retrain_switches = Table(
    "retrain_switches",
    metadata,
    # a policy's name, or "*" for every policy
    Column("scope", String(128), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("scope"),
)

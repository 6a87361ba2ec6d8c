"""Tables of the serving context: endpoint definitions (a version bumped on every change)
and the embedded queue of asynchronous jobs."""

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from modelward.store import UTCDateTime, metadata

__all__ = ["endpoints", "serving_jobs"]

endpoints = Table(
    "endpoints",
    metadata,
    Column("name", String(128), nullable=False),
    # the validated EndpointSpec as JSON
    Column("spec", JSON, nullable=False),
    # bumped by every change; gateways poll it and reload only what changed
    Column("config_version", Integer, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("name"),
)

# Times are epoch seconds (floats): every take compares them with now plus or minus a
# timeout, which is plain arithmetic on a float on every backend.
serving_jobs = Table(
    "serving_jobs",
    metadata,
    Column("id", String(64), nullable=False),
    Column("endpoint", String(128), nullable=False),
    # the caller's Idempotency-Key: a second submit with it returns this job
    Column("idempotency_key", String(200), nullable=True),
    # queued | running | succeeded | failed (failed: in the dead-letter list)
    Column("status", String(16), nullable=False),
    # {"inputs": [...], "batch": bool} or {"input_path": "..."}
    Column("payload", JSON, nullable=False),
    Column("callback_url", String(2000), nullable=True),
    # deliveries so far (a redelivery after a lost lease counts)
    Column("attempts", Integer, nullable=False),
    # who holds the job and until when; a new token on every delivery
    Column("lease_token", String(64), nullable=True),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", Float, nullable=True),
    # not taken before this time (a retry's backoff)
    Column("available_at", Float, nullable=False),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=True),
    # the result callback's outcome: pending | delivered | failed: <why>
    Column("callback_state", String(400), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    # a finished job is forgotten after this time (result_ttl_s)
    Column("expires_at", Float, nullable=True),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("endpoint", "idempotency_key", name="uq_serving_jobs_idempotency"),
    Index("ix_serving_jobs_ready", "endpoint", "status", "available_at"),
)

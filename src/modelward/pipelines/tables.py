"""Tables of the pipelines context: runs, their steps, the step cache, schedules, ticks.

A run or step record is written while it is in progress and becomes read-only once it
has finished: migration ``0007`` installs database triggers (SQLite ``RAISE(ABORT)``,
Postgres a PL/pgSQL function) that refuse any UPDATE or DELETE of a finished row, so no
code path (nor a hand-written SQL statement) can edit history.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from modelward.store import UTCDateTime, metadata

__all__ = [
    "FINISHED_RUN_STATES",
    "FINISHED_STEP_STATES",
    "pipeline_cache",
    "pipeline_runs",
    "pipeline_schedules",
    "pipeline_steps",
    "schedule_ticks",
]

#: a run in one of these states can no longer change (enforced by triggers)
FINISHED_RUN_STATES = ("succeeded", "failed", "interrupted")
FINISHED_STEP_STATES = ("succeeded", "failed", "cached", "pinned", "skipped")

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("pipeline", String(128), nullable=False),
    # running | succeeded | failed | interrupted
    Column("status", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    # sha256 of the canonical JSON of params: runs with the same params find each other
    Column("params_hash", String(80), nullable=False),
    # definition hash, step code hashes, git commit and dirty flag
    Column("code", JSON, nullable=False),
    # python version, locked packages and their hash
    Column("environment", JSON, nullable=False),
    Column("executor", String(32), nullable=False),
    # run | schedule | reproduce
    Column("trigger", String(16), nullable=False),
    Column("resumed_from", String(32), nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_pipeline_runs_pipeline", "pipeline"),
)

pipeline_steps = Table(
    "pipeline_steps",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("step", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    # pending | running | succeeded | cached | pinned (reproduce) | failed | skipped
    Column("status", String(16), nullable=False),
    Column("cache_key", String(80), nullable=True),
    Column("code_hash", String(80), nullable=False),
    Column("params", JSON, nullable=False),
    # {argument: content hash} of the inputs read, and {output: {hash, codec, size}} written
    Column("input_hashes", JSON, nullable=True),
    Column("outputs", JSON, nullable=True),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("wall_seconds", Float, nullable=True),
    Column("cpu_seconds", Float, nullable=True),
    Column("peak_memory_bytes", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("traceback", Text, nullable=True),
    # structured details of the error (e.g. a contract violation's report)
    Column("error_details", JSON, nullable=True),
    ForeignKeyConstraint(["run_id"], ["pipeline_runs.id"]),
)

pipeline_cache = Table(
    "pipeline_cache",
    metadata,
    # sha256 over the step's code hash, the parameter values it reads and its input hashes
    Column("key", String(80), primary_key=True),
    Column("pipeline", String(128), nullable=False),
    Column("step", String(64), nullable=False),
    # {output: {hash, codec, size}}; the bytes live under .modelward/pipelines/objects
    Column("outputs", JSON, nullable=False),
    Column("run_id", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

pipeline_schedules = Table(
    "pipeline_schedules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", String(128), nullable=False),
    Column("cron", String(120), nullable=False),
    Column("params", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # sha256 of the params' canonical JSON: the same pipeline, cron and params only once
    Column("params_key", String(80), nullable=False),
    UniqueConstraint("pipeline", "cron", "params_key"),
)

schedule_ticks = Table(
    "schedule_ticks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule_id", Integer, nullable=False),
    Column("tick", UTCDateTime(), nullable=False),
    Column("claimed_by", String(200), nullable=False),
    Column("claimed_at", UTCDateTime(), nullable=False),
    Column("run_id", String(32), nullable=True),
    # the lock: one row per (schedule, tick), claimed inside a transaction
    UniqueConstraint("schedule_id", "tick"),
    ForeignKeyConstraint(["schedule_id"], ["pipeline_schedules.id"]),
)

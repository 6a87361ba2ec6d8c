"""pipelines: runs, steps, the step cache, schedules and their claimed ticks

Finished run and step records are made read-only by triggers (SQLite and Postgres).

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0007"
down_revision = "0001"
branch_labels = ("pipelines",)
depends_on = None

_RUN_DONE = "('succeeded', 'failed', 'interrupted')"
_STEP_DONE = "('succeeded', 'failed', 'cached', 'pinned', 'skipped')"
_MESSAGE = "pipeline run records are immutable once finished"


def _sqlite_triggers() -> None:
    for table, done in (("pipeline_runs", _RUN_DONE), ("pipeline_steps", _STEP_DONE)):
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER trg_{table}_immutable_{event.lower()} "
                f"BEFORE {event} ON {table} FOR EACH ROW WHEN OLD.status IN {done} "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )


def _postgres_triggers() -> None:
    for table, done in (("pipeline_runs", _RUN_DONE), ("pipeline_steps", _STEP_DONE)):
        op.execute(
            f"CREATE FUNCTION {table}_immutable() RETURNS trigger AS $$ "
            f"BEGIN IF OLD.status IN {done} THEN "
            f"RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation'; "
            "END IF; IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END; "
            "$$ LANGUAGE plpgsql"
        )
        op.execute(
            f"CREATE TRIGGER trg_{table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_immutable()"
        )


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("params_hash", sa.String(80), nullable=False),
        sa.Column("code", sa.JSON, nullable=False),
        sa.Column("environment", sa.JSON, nullable=False),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("resumed_from", sa.String(32), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_runs"),
    )
    op.create_index("ix_pipeline_runs_pipeline", "pipeline_runs", ["pipeline"])
    op.create_table(
        "pipeline_steps",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cache_key", sa.String(80), nullable=True),
        sa.Column("code_hash", sa.String(80), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("input_hashes", sa.JSON, nullable=True),
        sa.Column("outputs", sa.JSON, nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("wall_seconds", sa.Float, nullable=True),
        sa.Column("cpu_seconds", sa.Float, nullable=True),
        sa.Column("peak_memory_bytes", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("traceback", sa.Text, nullable=True),
        sa.Column("error_details", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "step", name="pk_pipeline_steps"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["pipeline_runs.id"], name="fk_pipeline_steps_run_id_pipeline_runs"
        ),
    )
    op.create_table(
        "pipeline_cache",
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_pipeline_cache"),
    )
    op.create_table(
        "pipeline_schedules",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("cron", sa.String(120), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("params_key", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_schedules"),
        sa.UniqueConstraint(
            "pipeline", "cron", "params_key", name="uq_pipeline_schedules_pipeline_cron_params_key"
        ),
    )
    op.create_table(
        "schedule_ticks",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.Integer, nullable=False),
        sa.Column("tick", UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_ticks"),
        sa.UniqueConstraint("schedule_id", "tick", name="uq_schedule_ticks_schedule_id_tick"),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["pipeline_schedules.id"],
            name="fk_schedule_ticks_schedule_id_pipeline_schedules",
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("pipeline_steps", "pipeline_runs"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_immutable ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_immutable()")
    else:
        for table in ("pipeline_steps", "pipeline_runs"):
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_immutable_{event}")
    op.drop_table("schedule_ticks")
    op.drop_table("pipeline_schedules")
    op.drop_table("pipeline_cache")
    op.drop_table("pipeline_steps")
    op.drop_index("ix_pipeline_runs_pipeline", table_name="pipeline_runs")
    op.drop_table("pipeline_runs")

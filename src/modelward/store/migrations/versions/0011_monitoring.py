"""monitoring: reference profiles, delayed labels, KPI events, monitor runs, alert states

Revision ID: 0011
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0011"
down_revision = "0001"
branch_labels = ("monitoring",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_profiles",
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model_name", "version", name="pk_reference_profiles"),
    )
    op.create_table(
        "labels",
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("labelled_at", UTCDateTime(), nullable=False),
        sa.Column("ingested_by", sa.String(200), nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "request_id", name="pk_labels"),
    )
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("window_end", UTCDateTime(), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_runs"),
    )
    op.create_index("ix_monitor_runs_endpoint", "monitor_runs", ["endpoint", "created_at"])
    op.create_table(
        "alert_states",
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=False),
        sa.Column("last_sent_at", UTCDateTime(), nullable=False),
        sa.Column("message", sa.String(2000), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "key", name="pk_alert_states"),
    )
    op.create_table(
        "kpi_events",
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("ingested_by", sa.String(200), nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "name", "at", name="pk_kpi_events"),
    )


def downgrade() -> None:
    op.drop_table("kpi_events")
    op.drop_table("alert_states")
    op.drop_index("ix_monitor_runs_endpoint", table_name="monitor_runs")
    op.drop_table("monitor_runs")
    op.drop_table("labels")
    op.drop_table("reference_profiles")

"""retraining: trigger episodes and kill switches

Revision ID: 0012
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0012"
down_revision = "0001"
branch_labels = ("retraining",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retrain_episodes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=True),
        sa.Column("window_end", UTCDateTime(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("candidate", sa.String(200), nullable=True),
        sa.Column("release_id", sa.String(64), nullable=True),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("cpu_s", sa.Float, nullable=False),
        sa.Column("linked", sa.Integer, nullable=False),
        sa.Column("open_slot", sa.String(128), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_retrain_episodes"),
    )
    op.create_index("ix_retrain_episodes_policy", "retrain_episodes", ["policy", "created_at"])
    op.create_index("ux_retrain_episodes_open", "retrain_episodes", ["open_slot"], unique=True)
    op.create_table(
        "retrain_switches",
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name="pk_retrain_switches"),
    )


def downgrade() -> None:
    op.drop_table("retrain_switches")
    op.drop_index("ux_retrain_episodes_open", table_name="retrain_episodes")
    op.drop_index("ix_retrain_episodes_policy", table_name="retrain_episodes")
    op.drop_table("retrain_episodes")

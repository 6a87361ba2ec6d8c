"""rollout: releases (state machine, optimistic version, controller lease)

Revision ID: 0010
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0010"
down_revision = "0001"
branch_labels = ("rollout",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("active_endpoint", sa.String(128), nullable=True),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("baseline", sa.String(200), nullable=False),
        sa.Column("candidate", sa.String(200), nullable=False),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("step_started_at", UTCDateTime(), nullable=False),
        sa.Column("held_since", UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_analysis", sa.JSON, nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_releases"),
        sa.UniqueConstraint("active_endpoint", name="uq_releases_active_endpoint"),
        sa.UniqueConstraint("endpoint", "seq", name="uq_releases_endpoint_seq"),
    )


def downgrade() -> None:
    op.drop_table("releases")

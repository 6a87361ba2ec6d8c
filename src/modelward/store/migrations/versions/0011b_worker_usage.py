"""monitoring: CPU and memory samples of each gateway worker (the system figures of a run)

Revision ID: 0011b
Revises: 0011a
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from modelward.store.schema import UTCDateTime

revision = "0011b"
down_revision = "0011a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_usage",
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("interval_s", sa.Float, nullable=False),
        sa.Column("cpu_s", sa.Float, nullable=False),
        sa.Column("rss_bytes", sa.BigInteger, nullable=False),
        sa.Column("predictions", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("worker", "at", name="pk_worker_usage"),
    )
    op.create_index("ix_worker_usage_at", "worker_usage", ["at"])


def downgrade() -> None:
    op.drop_index("ix_worker_usage_at", table_name="worker_usage")
    op.drop_table("worker_usage")
